import CProcessMemory
import Dispatch
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Synchronization
import Systemd
import TimeZoneRules

#if canImport(Glibc)
import Glibc
#endif

extension Daemon {
    /// A warning for each certificate of a destination's `tls` files that has expired or soon
    /// will: handshakes that need it fail, each one only as "certificate verify failed".
    /// What `check-config` warns about (certificates that expire, secret files every user
    /// can read, weak keys), in the journal at start and at each reload.
    func logConfigWarnings(_ config: Config) {
        for warning in config.warnings.map(\.description) + DestinationTLS.validityWarnings(config.destinations, now: now()) {
            logger.warning("\(warning)")
        }
    }

    /// Says which destinations no longer in the config still have notifications queued: they
    /// are not tried, and the next tick withdraws them (`Withdrawal.Cause.destinationRemoved`).
    /// A destination renamed does not take them over: said at the start and at each reload
    /// that changes the destinations, not only by `overdued queue`.
    func logQueuesOnHold(_ config: Config) {
        guard let held = try? outbox.queuedCounts(outside: config.destinations.map(\.name)), !held.isEmpty else { return }
        for (destination, count) in held.sorted(by: { $0.key < $1.key }) {
            logger.warning("\(count) queued notification(s) for destination \(destination), which is not in the config, are not tried; the next tick withdraws them, and where no other destination got a ticket's notification its rule notifies the destinations it names now (a destination renamed does not take them over)",
                           metadata: ["destination": "\(destination)"])
        }
    }

    /// SIGHUP: validate the whole new file first; swap atomically or keep the old one.
    func reload() {
        notify.reloading()
        let current = state.withLock { $0.config }
        let candidate: Result<Config, ConfigError>
        do {
            candidate = .success(try loader.load(path: configPath))
        } catch {
            candidate = .failure(error)
        }
        var plan = ConfigReload.plan(current: current, candidate: candidate)
        var newTickets: TicketsDatabase?
        var ticketsGone = false
        if case .apply(let config, _, true) = plan {
            let path = config.store.ticketsDatabase
            if path == current.store.ticketsDatabase, access(path, F_OK) != 0, errno == ENOENT {
                // The same path, with no file now (not there yet, or gone): as at the start,
                // ticks are skipped until it is there, and it is then opened with the new
                // settings. Refusing would throw away every other change of this reload.
                ticketsGone = true
            } else {
                do {
                    newTickets = try TicketsDatabase(path: path, busyTimeout: config.store.busyTimeout, progress: progress)
                } catch {
                    plan = .refuse(problems: ["store.tickets_database: \(error.description)"])
                }
            }
        }
        switch plan {
        case .refuse(let problems):
            logger.error("reload of \(configPath) refused, still running on the previous config: \(problems.joined(separator: "; "))",
                         metadata: ["event": "reload_failed"])
            let text = state.withLock { running -> String in
                running.status.reloadProblem = "reload failed (\(problems.count) problem\(problems.count == 1 ? "" : "s")), running on the previous config"
                return running.status.text
            }
            readyAfterReload(status: text)
        case .apply(let config, let changes, _):
            let schedule = TickSchedule(config.schedule)
            let evaluationChanged = changes.contains("rules") || changes.contains("store.timezone")
            let toHold = evaluationChanged ? ConfigReload.rulesChanged(from: current, to: config).union(strayRules(config)) : []
            let (text, tickRunning) = state.withLock { running -> (String, Bool) in
                if evaluationChanged {
                    // With the move of the generation, under one lock: a tick ending now either
                    // evaluated the old rules (and releases nothing) or comes after both.
                    running.evaluationGeneration += 1
                    hold(toHold, &running)
                }
                // The loop re-arms from now on a new schedule (`TickLoop.update`): say when.
                if config.schedule != running.config.schedule {
                    let previousDue = [running.status.lastTick, running.status.tickProblem?.due].compactMap { $0 }.max()
                    running.status.nextTick = schedule.next(after: previousDue, now: now())
                }
                running.config = config
                if let newTickets {
                    running.tickets = newTickets
                    running.ticketsWatch.missing = false
                } else if ticketsGone {
                    running.tickets = nil
                }
                running.engine = RulesEngine(config: config)
                // Rows read through the same connection still answer the rules whose query did
                // not change (a secret rotated must not cost a full read); another connection's
                // change counter is not comparable, so a reopened database starts afresh.
                if newTickets != nil || ticketsGone {
                    running.candidates = TickCache()
                } else {
                    running.candidates = running.candidates.carryingRows()
                }
                running.status.reloadProblem = nil
                // Read in the same lock as the engine swap: a tick that starts after it reads
                // the new engine; one running now ends by evaluating again.
                return (running.status.text, running.status.tickRunningSince != nil)
            }
            // A tick running now read the old rules: it stops before its enqueue commits and
            // runs again with these (a reload that removes a rule written too wide during its
            // first, long tick must not let that tick queue everything it matched).
            if evaluationChanged { progress.supersedeTick() }
            notifier.update(destinations: config.destinations)
            tickLoop.withLock { $0 }?.update(schedule: schedule)
            if let gate, let watchdog = notify.watchdogInterval { gate.setLimits(Self.limits(config, watchdog: watchdog)) }
            // The reload's own record is written under whichever level lets it through, the
            // old or the new: lowering the level to "error" must not hide the reload that did it.
            let level = Logger.Level(configName: config.log.level.rawValue) ?? .info
            let moreVerbose = level <= levels.get()
            if moreVerbose { levels.set(level) }
            // Credentials are systemd's copies, made at start: a rotated one is not seen here.
            let credentials = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"].map { !$0.isEmpty } ?? false
                ? " (secret files in $CREDENTIALS_DIRECTORY are the copies systemd made at start: a changed credential needs systemctl restart)"
                : ""
            logger.notice("reloaded \(configPath): \(changes.isEmpty ? "no changes" : "changed " + changes.joined(separator: ", "))\(credentials)",
                          metadata: ["event": "reload"])
            if !moreVerbose { levels.set(level) }
            logConfigWarnings(config)
            if changes.contains("destinations") { logQueuesOnHold(config) }
            // New rules are evaluated at once, not at the next scheduled tick (up to an interval
            // later): a rule removed or narrowed because it was written too wide must not have
            // its queue delivered meanwhile (the tick withdraws it). A tick running now does so
            // itself when it ends (`evaluationGeneration`).
            if evaluationChanged, !tickRunning {
                _ = tickLoop.withLock { $0 }?.tickNow()
            }
            readyAfterReload(status: text)
        }
    }

    /// The rules of the queue that `config` does not have (removed by a reload, or while
    /// overdued was stopped): none when the queue cannot be read (the tick says why).
    func strayRules(_ config: Config) -> Set<String> {
        ((try? outbox.queuedRules(upTo: Int64.max)) ?? []).subtracting(config.rules.map(\.name))
    }

    /// Holds the queue of `rules` (rules removed or changed, and those of the queue the config
    /// does not have) until the next tick has weighed them against the config
    /// (`releaseHeldRules`): a rule removed or narrowed because it was written too wide has
    /// nothing more delivered once the reload is done, not for as long as that tick takes.
    /// Added to what an earlier reload holds whose tick has not ended yet. Under the state
    /// lock (`running`), as the release is: the notifier is told in the order they happen.
    func hold(_ rules: Set<String>, _ running: inout Running) {
        running.heldRules.formUnion(rules)
        notifier.hold(rules: running.heldRules)
    }

    /// A tick that evaluated the current rules has ended (enqueued and withdrawn, or failed:
    /// the queue is then delivered as before the reload, not held for as long as the ticks
    /// fail).
    func releaseHeldRules(evaluated generation: Int) {
        state.withLock { running in
            guard generation == running.evaluationGeneration, !running.heldRules.isEmpty else { return }
            running.heldRules = []
            notifier.hold(rules: [])
        }
    }

    /// `READY=1` with the status after a reload, unless a stop began meanwhile: the service
    /// manager must not see the daemon ready again once it said `STOPPING=1`.
    func readyAfterReload(status: String) {
        guard !isStopping else { return }
        notify.ready(status: status)
    }
}
