import Foundation
import Logging
import Scheduler
import Testing

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

    static func loop(_ clock: Clock, _ ticks: Ticks) -> TickLoop {
        TickLoop(schedule: TickSchedule(interval: .milliseconds(200), align: false), logger: Logger(label: "test"),
                 now: { clock.now() }, tick: { ticks.add($0) })
    }

    /// Set forward an hour (or a suspend): the next tick is for the time it runs at, not for
    /// a slot an hour gone (which also made it report thousands of skipped ticks).
    @Test func aTickAfterTheClockWasSetForwardIsForNow() {
        let clock = Clock()
        let ticks = Ticks()
        let loop = Self.loop(clock, ticks)
        loop.start()
        #expect(ticks.wait(for: 1, seconds: 10).count == 1)
        clock.step(3_600)
        let stepped = clock.now()
        let dues = ticks.wait(for: 3, seconds: 10)
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
        let dues = ticks.wait(for: 4, seconds: 10)
        loop.stop()
        #expect(dues.count >= 4)
        #expect(dues.dropFirst().allSatisfy { $0 >= stepped.addingTimeInterval(-1) && $0 < stepped.addingTimeInterval(60) }, "\(dues)")
    }
}
