import Systemd
import Testing

/// The gate over simulated time: instants are offsets from an arbitrary origin, no sleeping.
struct WatchdogGateTests {
    let origin = ContinuousClock.now
    /// interval 60 s, budget 30 s, WATCHDOG_USEC 20 s → timer slack 10 s, notifier silence 20 s.
    let limits = WatchdogGate.Limits(tickInterval: .seconds(60), tickBudget: .seconds(30), watchdogInterval: .seconds(20))

    func at(_ seconds: Double) -> ContinuousClock.Instant {
        origin + .milliseconds(Int64(seconds * 1000))
    }

    @Test func limitsDeriveFromTheWatchdogInterval() {
        #expect(limits.timerSlack == .seconds(10))
        #expect(limits.notifierSilence == .seconds(20))
        let explicit = WatchdogGate.Limits(
            tickInterval: .seconds(60), tickBudget: .seconds(30), watchdogInterval: .seconds(20),
            timerSlack: .seconds(3), notifierSilence: .seconds(7)
        )
        #expect(explicit.timerSlack == .seconds(3))
        #expect(explicit.notifierSilence == .seconds(7))
    }

    @Test func aFreshGatePings() {
        let gate = WatchdogGate(limits: limits, start: at(0))
        #expect(gate.verdict(now: at(0)) == .ping)
        #expect(gate.mayPing(now: at(15)))
    }

    @Test func healthyLoopsPingForTenMinutes() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        // Ticks start every 60 s and take 2 s; the notifier beats every 5 s; the ping timer
        // asks every 10 s (half the watchdog interval). Events are applied in time order.
        for second in stride(from: 0, through: 600, by: 1) {
            let now = at(Double(second))
            if second % 60 == 0 { gate.tickStarted(at: now) }
            if second % 60 == 2 { gate.tickFinished(at: now, nextTickAt: at(Double(second - 2 + 60))) }
            if second % 5 == 0 { gate.notifierBeat(at: now) }
            if second % 10 == 0 {
                #expect(gate.verdict(now: now) == .ping, "at \(second)s")
            }
        }
    }

    @Test func aHungTickStopsThePings() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickStarted(at: at(60))  // and never finishes: a database lock held forever
        for second in stride(from: 60, through: 120, by: 5) {
            gate.notifierBeat(at: at(Double(second)))
        }
        #expect(gate.mayPing(now: at(90)), "exactly at the budget the tick still counts")
        #expect(gate.verdict(now: at(91)) == .withhold(reason: "tick running for 31.0s, without progress for 31.0s (budget 30.0s)"))
        #expect(!gate.mayPing(now: at(120)))
    }

    /// A long tick that keeps advancing (a rule over a million tickets) is not a hung one: the
    /// budget counts from its last progress, and runs out once that stops.
    @Test func aLongTickThatAdvancesKeepsThePingsGoing() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickStarted(at: at(60))
        for second in stride(from: 60, through: 300, by: 5) {
            gate.notifierBeat(at: at(Double(second)))
            gate.tickProgressed(at: at(Double(second)))
            #expect(gate.mayPing(now: at(Double(second) + 4)), "at \(second + 4)s")
        }
        gate.notifierBeat(at: at(330))
        #expect(gate.verdict(now: at(331)) == .withhold(reason: "tick running for 271.0s, without progress for 31.0s (budget 30.0s)"))
        // Progress between ticks is nothing to go by.
        gate.tickFinished(at: at(332))
        gate.tickProgressed(at: at(333))
        #expect(gate.mayPing(now: at(334)))
    }

    @Test func pingsResumeWhenTheHungTickFinishes() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickStarted(at: at(0))
        gate.notifierBeat(at: at(40))
        #expect(!gate.mayPing(now: at(40)))
        gate.tickFinished(at: at(41))
        #expect(gate.mayPing(now: at(41)))
    }

    @Test func anIdleButHealthyLoopKeepsPinging() {
        // One tick an hour: between ticks the tick loop shows no activity at all, yet it is fine.
        let hourly = WatchdogGate.Limits(tickInterval: .seconds(3600), tickBudget: .seconds(60), watchdogInterval: .seconds(30))
        var gate = WatchdogGate(limits: hourly, start: at(0))
        gate.tickStarted(at: at(0))
        gate.tickFinished(at: at(4), nextTickAt: at(3600))
        for second in stride(from: 5, through: 3600, by: 5) {
            gate.notifierBeat(at: at(Double(second)))
            #expect(gate.verdict(now: at(Double(second))) == .ping, "at \(second)s")
        }
    }

    @Test func aTimerThatNeverFiresStopsThePings() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickFinished(at: at(0))  // next tick due at 60 s; allowance interval + budget = 90 s
        gate.notifierBeat(at: at(90))
        #expect(gate.mayPing(now: at(90)))
        gate.notifierBeat(at: at(91))
        #expect(gate.verdict(now: at(91)) == .withhold(reason: "tick timer overdue by 31.0s, last tick ended 91.0s ago"))
    }

    @Test func aLaterDeclaredNextTickKeepsTheLoopAliveUntilItIsDue() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickFinished(at: at(0), nextTickAt: at(200))
        gate.notifierBeat(at: at(150))
        #expect(gate.mayPing(now: at(150)), "past interval + budget, but the timer is not due yet")
        gate.notifierBeat(at: at(210))
        #expect(gate.mayPing(now: at(210)), "within the timer slack")
        gate.notifierBeat(at: at(211))
        #expect(gate.verdict(now: at(211)) == .withhold(reason: "tick timer overdue by 11.0s, last tick ended 211.0s ago"))
    }

    @Test func aSilentNotifierStopsThePings() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickStarted(at: at(100))
        gate.notifierBeat(at: at(100))
        #expect(gate.mayPing(now: at(120)))
        #expect(gate.verdict(now: at(120.5)) == .withhold(reason: "notifier silent for 20.5s (limit 20.0s)"))
        gate.notifierBeat(at: at(121))
        #expect(gate.mayPing(now: at(121)))
    }

    @Test func bothLoopsMustBeAliveTheTickLoopIsReportedFirst() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickStarted(at: at(0))
        let verdict = gate.verdict(now: at(100))
        guard case .withhold(let reason) = verdict else {
            Issue.record("expected the ping withheld, got \(verdict)")
            return
        }
        #expect(reason.hasPrefix("tick running for 100.0s"))
    }

    @Test func aReloadCanWidenTheBudget() {
        var gate = WatchdogGate(limits: limits, start: at(0))
        gate.tickStarted(at: at(0))
        gate.notifierBeat(at: at(45))
        #expect(!gate.mayPing(now: at(45)))
        gate.limits.tickBudget = .seconds(60)
        #expect(gate.mayPing(now: at(45)))
    }

    @Test func theSharedGateRecordsFromManyTasks() async {
        let shared = SharedWatchdogGate(limits: limits, start: at(0))
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for step in 0..<100 {
                        let now = at(Double(step))
                        if task == 0 { shared.notifierBeat(at: now) }
                        if task == 1 { shared.tickStarted(at: now); shared.tickFinished(at: now) }
                        _ = shared.mayPing(now: now)
                    }
                }
            }
        }
        #expect(shared.verdict(now: at(99)) == .ping)
        shared.tickStarted(at: at(100))
        shared.notifierBeat(at: at(140))
        #expect(shared.verdict(now: at(140)) == .withhold(reason: "tick running for 40.0s, without progress for 40.0s (budget 30.0s)"))
        var wider = limits
        wider.tickBudget = .seconds(45)
        shared.setLimits(wider)
        #expect(shared.mayPing(now: at(140)))
    }
}
