import Daemon
import Foundation
@testable import OverduedConfig
import Testing
import TimeZoneRules

/// The reload state machine: a new config replaces the running one only when it loaded in
/// full and changes only what can change in place.
@Suite struct ConfigReloadTests {
    static func config(interval: Duration = .seconds(300), tickets: String = "/data/tickets.sqlite",
                       state: String = "/var/lib/overdued/state.sqlite", target: LogTarget = .auto,
                       level: LogLevelName = .info, ruleName: String = "overdue") -> Config {
        Config(
            sourcePath: "/etc/overdued/config.json",
            store: StoreSettings(ticketsDatabase: tickets, stateDatabase: state,
                                 timeZone: ZoneRules.load("America/Toronto") ?? .utc, busyTimeout: .seconds(5)),
            schedule: ScheduleSettings(interval: interval, align: true),
            rules: [RuleSpec(name: ruleName, match: MatchSpec(statusIn: ["received"]), repeatPolicy: RepeatSpec(), destinations: ["hook"])],
            destinations: [],
            log: LogSettings(level: level, target: target)
        )
    }

    @Test func aValidConfigIsAppliedWithItsChangesNamed() {
        let plan = ConfigReload.plan(current: Self.config(), candidate: .success(Self.config(interval: .seconds(60), level: .debug, ruleName: "late")))
        guard case .apply(let config, let changes, let reopen) = plan else {
            Issue.record("expected apply, got \(plan)")
            return
        }
        #expect(config.schedule.interval == .seconds(60))
        #expect(changes == ["schedule", "rules", "log.level"])
        #expect(!reopen)
    }

    /// The rules whose queue waits for a tick after the reload: removed or changed ones; all
    /// of them when the zone changed; none when only other settings did.
    @Test func theRulesAReloadRemovedOrChangedAreNamed() {
        let old = Self.config(ruleName: "overdue")
        #expect(ConfigReload.rulesChanged(from: old, to: Self.config(interval: .seconds(60), ruleName: "overdue")).isEmpty)
        #expect(ConfigReload.rulesChanged(from: old, to: Self.config(ruleName: "late")) == ["overdue"])
        var narrowed = old
        narrowed.rules[0].match.statusIn = ["received", "diagnostic"]
        #expect(ConfigReload.rulesChanged(from: old, to: narrowed) == ["overdue"])
        var moved = old
        moved.store.timeZone = .utc
        #expect(ConfigReload.rulesChanged(from: old, to: moved) == ["overdue"])
    }

    /// Applied at the next prune: named, not "no changes".
    @Test func aNewHistoryRetentionIsNamed() {
        var shorter = Self.config()
        shorter.store.historyRetention = .seconds(30 * 86_400)
        guard case .apply(_, let changes, let reopen) = ConfigReload.plan(current: Self.config(), candidate: .success(shorter)) else {
            Issue.record("expected apply")
            return
        }
        #expect(changes == ["store.history_retention"])
        #expect(!reopen)
    }

    @Test func aNewTicketsDatabaseIsReopened() {
        let plan = ConfigReload.plan(current: Self.config(), candidate: .success(Self.config(tickets: "/data/other.sqlite")))
        guard case .apply(_, let changes, let reopen) = plan else {
            Issue.record("expected apply, got \(plan)")
            return
        }
        #expect(reopen)
        #expect(changes == ["store.tickets_database"])
    }

    @Test func anInvalidConfigIsRefusedWithEveryProblem() {
        let error = ConfigError(file: "/etc/overdued/config.json", problems: [
            ConfigProblem(path: "schedule.interval", message: "bad"),
            ConfigProblem(path: "rules[0].name", message: "is required"),
        ])
        #expect(ConfigReload.plan(current: Self.config(), candidate: .failure(error))
            == .refuse(problems: ["schedule.interval: bad", "rules[0].name: is required"]))
    }

    @Test func theStateDatabaseAndLogTargetCannotChangeInPlace() {
        let plan = ConfigReload.plan(current: Self.config(), candidate: .success(Self.config(state: "/srv/state.sqlite", target: .journal)))
        guard case .refuse(let problems) = plan else {
            Issue.record("expected refuse, got \(plan)")
            return
        }
        #expect(problems.count == 2)
        #expect(problems[0].hasPrefix("store.state_database:"))
        #expect(problems[1].hasPrefix("log.target:"))
    }

    @Test func reloadingTheSameFileChangesNothing() {
        #expect(ConfigReload.plan(current: Self.config(), candidate: .success(Self.config()))
            == .apply(Self.config(), changes: [], reopenTickets: false))
    }
}

@Suite struct StatusLineTests {
    @Test func statusIsOneLineWithTheFigures() {
        var status = StatusLine()
        #expect(status.text == "no tick yet; queue 0, dead 0")
        status.lastTick = Date(timeIntervalSince1970: 1_795_532_700)  // 2026-11-24T15:05:00Z
        status.matches = 12
        status.enqueued = 3
        status.queueDepth = 4
        status.dead = 1
        status.nextTick = Date(timeIntervalSince1970: 1_795_533_000)  // 2026-11-24T15:10:00Z
        #expect(status.text == "last tick 2026-11-24T15:05:00Z: 12 matches, 3 enqueued; queue 4, dead 1; next tick 2026-11-24T15:10:00Z")
        status.reloadProblem = "reload failed (1 problem), running on the previous config"
        #expect(status.text.hasPrefix("reload failed (1 problem), running on the previous config; last tick"))
        #expect(!status.text.contains("\n"))
        status.deliveriesHeld = "deliveries held: the attempts an earlier process cut off cannot be recorded yet"
        #expect(status.text.hasPrefix("reload failed (1 problem), running on the previous config; deliveries held: "), "\(status.text)")
        status.deliveriesHeld = nil
        // While a tick evaluates, the line says so instead of a next tick now in the past.
        status.tickRunningSince = Date(timeIntervalSince1970: 1_795_533_000)
        #expect(status.text.hasSuffix("; queue 4, dead 1; tick running since 2026-11-24T15:10:00Z"), "\(status.text)")
    }

    /// A destination its receiver paused (`Retry-After`) is why the queue does not move: the
    /// line names it after the queue, with the end of the pause, and counts any others.
    @Test func aDestinationPausedByItsReceiverIsNamedAfterTheQueue() {
        var status = StatusLine()
        status.lastTick = Date(timeIntervalSince1970: 1_795_532_700)  // 2026-11-24T15:05:00Z
        status.queueDepth = 40
        status.nextTick = Date(timeIntervalSince1970: 1_795_533_000)  // 2026-11-24T15:10:00Z
        status.receiverPauses = [("hook", Date(timeIntervalSince1970: 1_795_533_600), false)]  // 2026-11-24T15:20:00Z
        #expect(status.text == "last tick 2026-11-24T15:05:00Z: 0 matches, 0 enqueued; queue 40, dead 0; "
            + "hook paused by its receiver until 2026-11-24T15:20:00Z; next tick 2026-11-24T15:10:00Z")
        status.receiverPauses.append(("other", Date(timeIntervalSince1970: 1_795_533_900), false))
        #expect(status.text.contains("; hook paused by its receiver until 2026-11-24T15:20:00Z (+1 more); next tick"))
        // overdued's own wait after a destination's answers crashed it is not the receiver's.
        status.receiverPauses = [("hook", Date(timeIntervalSince1970: 1_795_533_600), true)]
        #expect(status.text.contains("; hook paused by overdued (its answers crashed it) until 2026-11-24T15:20:00Z; next tick"), "\(status.text)")
        status.receiverPauses = []
        #expect(!status.text.contains("paused"))
    }

    /// A skipped tick does not pass for one that evaluated (its time with the last counts),
    /// and does not hide a refused reload, which still holds.
    @Test func aSkippedTickIsShownWithItsOwnTimeBesideARefusedReload() {
        var status = StatusLine()
        status.lastTick = Date(timeIntervalSince1970: 1_795_532_700)  // 2026-11-24T15:05:00Z
        status.matches = 18
        status.reloadProblem = "reload failed (1 problem), running on the previous config"
        status.tickProblem = (Date(timeIntervalSince1970: 1_795_533_000), "skipped: database busy")
        #expect(status.text == "reload failed (1 problem), running on the previous config; tick 2026-11-24T15:10:00Z skipped: database busy; "
            + "last tick 2026-11-24T15:05:00Z: 18 matches, 0 enqueued; queue 0, dead 0")
        status.tickProblem = nil
        #expect(status.text.hasPrefix("reload failed (1 problem), running on the previous config; last tick 2026-11-24T15:05:00Z"))
    }
}
