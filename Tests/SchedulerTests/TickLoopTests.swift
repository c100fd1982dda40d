import Foundation
import Logging
import Scheduler
import Testing
import TestSupport

/// The tick loop's timer against the wall clock it is given: ticks go on, and are dated by
/// it, when it is set back or forward while a tick is awaited.
struct TickLoopTests {
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var offset: TimeInterval = 0
        func now() -> Date { lock.withLock { Date().addingTimeInterval(offset) } }
        func step(_ seconds: TimeInterval) { lock.withLock { offset += seconds } }
    }

    final class Ticks: @unchecked Sendable {
        private let lock = NSLock()
        private var dues: [Date] = []
        func add(_ due: Date) { lock.withLock { dues.append(due) } }
        var all: [Date] { lock.withLock { dues } }
        func wait(for count: Int, seconds: TimeInterval) -> [Date] {
            let end = Date().addingTimeInterval(seconds)
            while all.count < count, Date() < end { usleep(10_000) }
            return all
        }
    }

    /// The warnings a loop logs.
    final class Warnings: @unchecked Sendable, LogHandler {
        private let lock = NSLock()
        private var messages: [String] = []
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { nil }
            set {}
        }
        func log(event: LogEvent) { lock.withLock { messages.append("\(event.message)") } }
        var all: [String] { lock.withLock { messages } }
    }

    static func loop(_ clock: Clock, _ ticks: Ticks, interval: Duration = .seconds(1), warnings: Warnings = Warnings(),
                     during tick: @escaping @Sendable () -> Void = {}) -> TickLoop {
        TickLoop(schedule: TickSchedule(interval: interval, align: false), logger: Logger(label: "test") { _ in warnings },
                 now: { clock.now() }, tick: { due in
                     tick()
                     ticks.add(due)
                 })
    }

    /// The clock set back while the loop waits: the tick the interval ran out for runs when it
    /// does, dated by the clock as it now is. It waited for the next slot of the new clock,
    /// up to one interval more: a tick lost.
    /// "Check now" asked many times while a tick runs gives one more tick, not one for each
    /// (a burst of SIGUSR1 during a long tick queued that many full evaluations).
    @Test func checkNowRequestsDuringATickAreOneTick() {
        let clock = Clock()
        let ticks = Ticks()
        let first = Locked(true)
        let loop = Self.loop(clock, ticks, interval: .seconds(3_600)) {
            if first.exchange(false) { usleep(500_000) }
        }
        loop.start()
        usleep(100_000)                       // the first tick runs now, for half a second
        for _ in 0..<20 { loop.tickNow() }
        #expect(ticks.wait(for: 2, seconds: 10).count == 2)
        usleep(500_000)
        #expect(ticks.all.count == 2, "\(ticks.all.count) ticks")
        loop.tickNow()
        #expect(ticks.wait(for: 3, seconds: 10).count == 3, "asked again after that tick: one more")
        loop.stop()
    }

    /// A reload changing the schedule (unaligned) runs no tick of its own: the next is one new
    /// interval after the last was due. Three reloads in a row gave three ticks at once.
    @Test func aNewScheduleRunsNoExtraTick() {
        let clock = Clock()
        let ticks = Ticks()
        let loop = Self.loop(clock, ticks, interval: .seconds(3_600))
        loop.start()
        #expect(ticks.wait(for: 1, seconds: 10).count == 1)
        for minutes in [60, 120, 180] {
            loop.update(schedule: TickSchedule(interval: .seconds(minutes * 60), align: false))
        }
        usleep(500_000)
        #expect(ticks.all.count == 1, "\(ticks.all)")
        // Shortened below the time since the last tick: that tick is late, and runs at once.
        usleep(500_000)
        loop.update(schedule: TickSchedule(interval: .milliseconds(300), align: false))
        #expect(ticks.wait(for: 2, seconds: 5).count >= 2)
        loop.stop()
    }

    /// A tick that the stop finds running ends past its interval (interrupted, or the last):
    /// no "skipping" warning for it. The same tick without a stop warns.
    @Test(arguments: [true, false])
    func aTickEndedByTheStopIsNoSlowTick(stopping: Bool) {
        let clock = Clock()
        let ticks = Ticks()
        let warnings = Warnings()
        let loop = Self.loop(clock, ticks, interval: .seconds(1), warnings: warnings) { usleep(2_300_000) }
        loop.start()
        usleep(200_000)
        if stopping { loop.stopping() }
        loop.stop()
        #expect(ticks.all.count == 1)
        #expect(warnings.all.contains { $0.contains("skipping") } == !stopping, "\(warnings.all)")
    }

    @Test func aClockSetBackLosesNoTick() {
        let clock = Clock()
        let ticks = Ticks()
        let loop = Self.loop(clock, ticks, interval: .seconds(2))
        loop.start()
        #expect(ticks.wait(for: 1, seconds: 10).count == 1)
        let first = Date()
        clock.step(-3_600)
        let dues = ticks.wait(for: 2, seconds: 10)
        let gap = Date().timeIntervalSince(first)
        loop.stop()
        #expect(dues.count == 2)
        #expect(gap < 3.2, "the second tick came \(gap) s after the first, with a 2 s interval")
    }

    /// The clock set forward by less than an interval while the loop waits: the tick that
    /// then runs 0.3 s of a 1 s interval skipped nothing (its lateness was the step's).
    @Test func aShortForwardStepWhileWaitingIsNoSlowTick() {
        let clock = Clock()
        let ticks = Ticks()
        let warnings = Warnings()
        let count = Locked(false)
        let loop = Self.loop(clock, ticks, interval: .seconds(1), warnings: warnings) {
            if count.exchange(true) { usleep(300_000) }   // every tick but the first takes 0.3 s
        }
        loop.start()
        #expect(ticks.wait(for: 1, seconds: 10).count == 1)
        clock.step(0.8)
        #expect(ticks.wait(for: 2, seconds: 10).count == 2)
        loop.stop()
        #expect(warnings.all.isEmpty, "\(warnings.all)")
    }

    /// The clock set forward while a tick runs: no "skipping 1440 tick(s)" warning for a tick
    /// that ran a few milliseconds.
    @Test func aClockSetForwardDuringATickIsNoSlowTick() {
        let clock = Clock()
        let ticks = Ticks()
        let warnings = Warnings()
        let stepped = Locked(false)
        let loop = Self.loop(clock, ticks, interval: .seconds(60), warnings: warnings) {
            if !stepped.exchange(true) { clock.step(86_400) }
        }
        loop.start()
        // (The next tick runs at once: a slot a day gone is over, the docs' "for the time it runs at".)
        #expect(ticks.wait(for: 2, seconds: 10).count == 2)
        loop.stop()
        #expect(warnings.all.isEmpty, "\(warnings.all)")
    }

    /// Set forward an hour (or a suspend): the next tick is for the time it runs at, not for
    /// a slot an hour gone (which also made it report thousands of skipped ticks).
    @Test func aTickAfterTheClockWasSetForwardIsForNow() {
        let clock = Clock()
        let ticks = Ticks()
        let loop = Self.loop(clock, ticks)
        loop.start()
        #expect(ticks.wait(for: 1, seconds: 10).count == 1)
        clock.step(3_600)                   // before the next tick: an interval (1 s) later
        let stepped = clock.now()
        let dues = ticks.wait(for: 3, seconds: 20)
        loop.stop()
        #expect(dues.count >= 3)
        if dues.count >= 2 {
            #expect(dues[1] >= stepped.addingTimeInterval(-1), "due \(dues[1]) after a step to \(stepped)")
        }
    }

    /// Set back an hour: ticks go on every interval, dated by the clock as it is now. (A guard
    /// of the loop's decisions: the defect it follows, a timer on the system's wall clock, does
    /// not show with an injected clock, which Dispatch never sees.)
    @Test func ticksGoOnAfterTheClockWasSetBack() {
        let clock = Clock()
        let ticks = Ticks()
        let loop = Self.loop(clock, ticks)
        loop.start()
        #expect(ticks.wait(for: 1, seconds: 10).count == 1)
        clock.step(-3_600)
        let stepped = clock.now()
        let dues = ticks.wait(for: 4, seconds: 20)
        loop.stop()
        #expect(dues.count >= 4)
        #expect(dues.dropFirst().allSatisfy { $0 >= stepped.addingTimeInterval(-1) && $0 < stepped.addingTimeInterval(60) }, "\(dues)")
    }
}
