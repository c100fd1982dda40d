import Foundation
import Scheduler
import Testing

/// The timer arithmetic with an injected clock: alignment, no drift, clock jumps.
@Suite struct TickScheduleTests {
    let five = TickSchedule(interval: .seconds(300), align: true)
    let freeRunning = TickSchedule(interval: .seconds(300), align: false)

    func at(_ text: String) throws -> Date {
        try #require(ISO8601DateFormatter().date(from: text))
    }

    @Test func alignedTicksFallOnWallClockMultiples() throws {
        #expect(five.next(after: nil, now: try at("2026-11-24T15:02:13Z")) == (try at("2026-11-24T15:05:00Z")))
        #expect(five.next(after: nil, now: try at("2026-11-24T15:05:00Z")) == (try at("2026-11-24T15:10:00Z")))
        let hourly = TickSchedule(interval: .seconds(3600), align: true)
        #expect(hourly.next(after: nil, now: try at("2026-11-24T23:59:59Z")) == (try at("2026-11-25T00:00:00Z")))
    }

    @Test func aRunWithinTwoSecondsOfASlotIsEvaluatedAtIt() throws {
        let slot = try at("2026-11-24T15:05:00Z")
        #expect(five.snapped(slot) == slot)
        #expect(five.snapped(slot.addingTimeInterval(1.9)) == slot)
        #expect(five.snapped(slot.addingTimeInterval(-1.9)) == slot, "a run a little early counts as the slot ahead")
        // Further off: the instant itself (at the slot behind, `every` would be shortened by
        // up to an interval).
        #expect(five.snapped(slot.addingTimeInterval(2.5)) == slot.addingTimeInterval(2.5))
        #expect(five.snapped(slot.addingTimeInterval(-150)) == slot.addingTimeInterval(-150))
        // A tenth of a short interval at most.
        let short = TickSchedule(interval: .seconds(5), align: true)
        #expect(short.snapped(Date(timeIntervalSince1970: 10.4)) == Date(timeIntervalSince1970: 10))
        #expect(short.snapped(Date(timeIntervalSince1970: 10.6)) == Date(timeIntervalSince1970: 10.6))
        #expect(five.snapped(Date(timeIntervalSince1970: -0.5)) == Date(timeIntervalSince1970: 0))
        // Not aligned: no slots.
        let instant = slot.addingTimeInterval(0.3)
        #expect(freeRunning.snapped(instant) == instant)
    }

    @Test func alignedScheduleDoesNotDriftWhenTicksAreSlow() throws {
        // A tick due at 15:05 that finishes at 15:05:40 is followed by one at 15:10, not 15:10:40.
        let due = try at("2026-11-24T15:05:00Z")
        #expect(five.next(after: due, now: try at("2026-11-24T15:05:40Z")) == (try at("2026-11-24T15:10:00Z")))
    }

    @Test func freeRunningScheduleKeepsItsCadence() throws {
        let due = try at("2026-11-24T15:00:07Z")
        // Re-armed from the due time, not from when the tick finished: no drift.
        #expect(freeRunning.next(after: due, now: try at("2026-11-24T15:00:09Z")) == (try at("2026-11-24T15:05:07Z")))
        // First tick at once.
        let start = try at("2026-11-24T15:00:00Z")
        #expect(freeRunning.next(after: nil, now: start) == start)
    }

    @Test func afterASuspendOrJumpForwardOneTickRunsNotAStorm() throws {
        let due = try at("2026-11-24T15:00:00Z")
        let wake = try at("2026-11-24T18:17:00Z")   // three hours asleep: 39 slots missed
        #expect(freeRunning.next(after: due, now: wake) == wake)
        // And then the cadence resumes from that tick.
        #expect(freeRunning.next(after: wake, now: wake.addingTimeInterval(1)) == wake.addingTimeInterval(300))
        #expect(five.next(after: due, now: wake) == (try at("2026-11-24T18:20:00Z")))
    }

    @Test func afterAJumpBackwardsTheNextTickIsAtMostOneIntervalAway() throws {
        let due = try at("2026-11-24T15:00:00Z")
        let now = try at("2026-11-24T12:00:00Z")   // clock set back three hours
        #expect(freeRunning.next(after: due, now: now) == now.addingTimeInterval(300))
        #expect(five.next(after: due, now: now) == (try at("2026-11-24T12:05:00Z")))
        // Set back by less than an interval: one interval from now, not the old due time's.
        let shortly = try at("2026-11-24T14:57:00Z")
        #expect(freeRunning.next(after: due, now: shortly) == (try at("2026-11-24T15:02:00Z")))
    }

    @Test func skippedSlotsAreCounted() throws {
        let due = try at("2026-11-24T15:00:00Z")
        #expect(five.skippedSlots(due: due, finished: due.addingTimeInterval(12)) == 0)
        #expect(five.skippedSlots(due: due, finished: due.addingTimeInterval(300)) == 0, "exactly one interval is not longer than it")
        #expect(five.skippedSlots(due: due, finished: due.addingTimeInterval(301)) == 1)
        #expect(five.skippedSlots(due: due, finished: due.addingTimeInterval(1000)) == 3)
    }
}
