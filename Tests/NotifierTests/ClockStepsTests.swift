import Foundation
import Logging
@testable import Notifier
import Store
import Synchronization
import Testing
import TestSupport

/// A wall clock set forward while the process runs (NTP after a boot at a wrong time) does not
/// age the retry budgets that began before it.
struct ClockStepsTests {
    static let wall0 = Date(timeIntervalSince1970: 1_795_000_000)

    @Test func aForwardStepIsSeenAndShiftsOnlyWhatBeganBeforeIt() {
        var steps = ClockSteps()
        let mono0 = ContinuousClock.now
        steps.observe(wall: Self.wall0, monotonic: mono0)
        // One second later by both clocks: no step.
        steps.observe(wall: Self.wall0.addingTimeInterval(1), monotonic: mono0 + .seconds(1))
        #expect(steps.steps.isEmpty)
        // One second later by the monotonic clock, two days and two seconds by the wall clock.
        let after = Self.wall0.addingTimeInterval(2 + 172_800)
        steps.observe(wall: after, monotonic: mono0 + .seconds(2))
        #expect(steps.steps == [ClockSteps.Step(after: after, by: 172_800)])
        #expect(steps.shift(since: Self.wall0.addingTimeInterval(-3_600)) == 172_800, "began before the step")
        #expect(steps.shift(since: after.addingTimeInterval(10)) == 0, "began after it")
    }

    @Test func aStepBackNeverShortensABudgetAndSmallDriftIsNoStep() {
        var steps = ClockSteps()
        let mono0 = ContinuousClock.now
        steps.observe(wall: Self.wall0, monotonic: mono0)
        #expect(steps.observe(wall: Self.wall0.addingTimeInterval(-3_600), monotonic: mono0 + .seconds(1))
            == ClockSteps.Step(after: Self.wall0.addingTimeInterval(-3_600), by: -3_601))
        #expect(steps.observe(wall: Self.wall0.addingTimeInterval(-3_600 + 4), monotonic: mono0 + .seconds(2)) == nil, "4 s of drift")
        #expect(steps.steps.count == 1)
        #expect(steps.shift(since: Self.wall0.addingTimeInterval(-86_400)) == 0)
    }

    /// A step back, then one forward (a clock corrected twice): a budget that began before both
    /// is moved by both. Counted by its start's reading alone, the forward step seemed to come
    /// before it (the clock read less just before the step than at the start), and the two days
    /// aged it: given up.
    @Test func aStepForwardAfterAStepBackStillShiftsWhatBeganBeforeBoth() {
        var steps = ClockSteps()
        let mono0 = ContinuousClock.now
        let start = Self.wall0
        steps.observe(wall: start.addingTimeInterval(10), monotonic: mono0 + .seconds(10))
        steps.observe(wall: start.addingTimeInterval(11 - 3_600), monotonic: mono0 + .seconds(11))
        steps.observe(wall: start.addingTimeInterval(600 - 3_600), monotonic: mono0 + .seconds(600))
        steps.observe(wall: start.addingTimeInterval(601 - 3_600 + 172_800), monotonic: mono0 + .seconds(601))
        #expect(steps.steps.map(\.by) == [-3_600, 172_800])
        #expect(steps.shift(since: start) == 169_200, "both steps came after it")
        // Read after the step back (the wall clock showed the same time twice): the forward
        // step alone, the larger of the two readings.
        #expect(steps.shift(since: start.addingTimeInterval(300 - 3_600)) == 172_800)
        #expect(steps.shift(since: start.addingTimeInterval(700 - 3_600 + 172_800)) == 0, "after both")
    }
}

/// The daemon's notifier with a wall clock set two days forward while a notification waits for
/// a retry (`give_up_after` 1 h): the retry is made, and its failure schedules another, instead
/// of the notification being given up for a budget the step alone used up.
@Suite(.serialized) struct ClockStepDeliveryTests {
    /// A notifier on a clock the test steps, and one notification queued for a receiver that
    /// refuses every connection (each attempt fails at once and schedules a retry).
    struct RefusingReceiver {
        let refused: RefusedPort
        let outbox: Outbox
        let clock = SteppedClock()
        let id: String
        let notifier: Notifier

        init(backoff: String) throws {
            refused = try RefusedPort()
            outbox = try Fixtures.outbox()
            let destination = try Fixtures.destination(url: "http://127.0.0.1:\(refused.port)/hook", initialBackoff: backoff, maxBackoff: backoff,
                                                       giveUpAfter: "1h")
            id = try Fixtures.enqueue(outbox, destination: "hook", createdAt: clock.now())[0]
            let clock = clock
            notifier = Notifier(outbox: outbox, destinations: [destination], userAgentVersion: "9", logger: Logger(label: "test"),
                                now: { clock.now() })
        }
    }

    final class SteppedClock: Sendable {
        private let offset = Mutex(0.0)
        func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
        func step(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
    }

    @Test func aRetryAfterTheClockWasSetForwardIsNotGivenUp() async throws {
        let setup = try RefusingReceiver(backoff: "1s")
        defer { withExtendedLifetime(setup) {} }   // (its port stays reserved)
        let (outbox, clock, id, notifier) = (setup.outbox, setup.clock, setup.id, setup.notifier)
        let running = Task { await notifier.run() }
        func attempts() throws -> Int { try outbox.notification(id: id)?.attempts ?? 0 }
        func waitFor(_ count: Int) async throws -> Bool {
            let end = Date().addingTimeInterval(30)
            while Date() < end { if try attempts() >= count { return true }; try await Task.sleep(for: .milliseconds(20)) }
            return false
        }
        #expect(try await waitFor(1))
        clock.step(172_800)
        #expect(try await waitFor(3), "retried after the step")
        await notifier.shutdown(grace: .zero)
        running.cancel()
        await running.value
        let after = try #require(try outbox.notification(id: id))
        #expect(after.status == .retrying, "\(after.status) \(after.lastError ?? "")")
        #expect(after.lastError?.contains("give_up_after") != true, "\(after.lastError ?? "")")
    }

    /// The move of the due times goes through the recorder's queue: a retry time recorded
    /// before it (on the clock before the step) moves back; one recorded after it, decided on
    /// the new clock, stays (moved too, it went at once instead of after its backoff; review).
    @Test func onlyTheDueTimesRecordedBeforeTheStepMove() async throws {
        let outbox = try Fixtures.outbox()
        let now = Date()
        let ids = try Fixtures.enqueue(outbox, destination: "hook", count: 2, createdAt: now.addingTimeInterval(-60))
        let recorder = AttemptRecorder(outbox: outbox)
        func attempt(_ id: String) -> DeliveryAttempt {
            DeliveryAttempt(notificationID: id, attempt: 1, startedAt: now, durationMilliseconds: 1, httpStatus: 500)
        }
        _ = await recorder.record(attempt(ids[0]), outcome: .retry(at: now.addingTimeInterval(3_600)), at: now)
        try outbox.recordReceiverPause(ReceiverPause(destination: "hook", until: now.addingTimeInterval(3_600), httpStatus: 503, setAt: now,
                                                     receiver: "http://127.0.0.1:9"))
        let moved = LockedState<Result<Int, StoreError>?>(nil)
        recorder.moveDueTimes(back: 3_000, now: now) { result in moved.withLock { $0 = result } }
        _ = await recorder.record(attempt(ids[1]), outcome: .retry(at: now.addingTimeInterval(600)), at: now)
        #expect(try moved.withLock { $0 }?.get() == 1)
        let first = try #require(try outbox.notification(id: ids[0])).nextAttemptAt
        let second = try #require(try outbox.notification(id: ids[1])).nextAttemptAt
        #expect(abs(first.timeIntervalSince(now.addingTimeInterval(600))) < 0.01, "moved back: \(first)")
        #expect(abs(second.timeIntervalSince(now.addingTimeInterval(600))) < 0.01, "decided after the step, kept: \(second)")
        let pause = try #require(try outbox.receiverPause(destination: "hook")).until
        #expect(abs(pause.timeIntervalSince(now.addingTimeInterval(600))) < 0.01, "the recorded pause moves too: \(pause)")
    }

    /// `once`: the clock set back an hour during a drain of 8 s. The drain ends on time (its
    /// deadline was a wall-clock time: it ran an hour more), and the retry waiting 2 s is made
    /// (its due time moves back with the step; the drain's idle waits look at the clocks).
    @Test(.timeLimit(.minutes(1))) func aDrainEndsOnTimeAndRetriesAfterTheClockIsSetBack() async throws {
        let setup = try RefusingReceiver(backoff: "2s")
        defer { withExtendedLifetime(setup) {} }   // (its port stays reserved)
        let (outbox, clock, id, notifier) = (setup.outbox, setup.clock, setup.id, setup.notifier)
        let stepper = Task {
            while (try? outbox.notification(id: id)?.attempts ?? 0) ?? 0 < 1 { try? await Task.sleep(for: .milliseconds(20)) }
            clock.step(-3_600)
        }
        let started = ContinuousClock.now
        _ = await notifier.drain(until: clock.now().addingTimeInterval(8))
        let took = ContinuousClock.now - started
        await stepper.value
        await notifier.shutdown(grace: .zero)
        #expect(took < .seconds(20), "the drain took \(took)")
        #expect(try outbox.notification(id: id)?.attempts ?? 0 >= 2, "retried within the drain")
    }

    /// The clock set back an hour while a notification waits 3 s for its retry: the retry
    /// comes about 3 s later, not an hour and 3 s (its due time was read on the clock before
    /// the step).
    @Test func aRetryDueWhenTheClockIsSetBackDoesNotWaitOutTheStep() async throws {
        let setup = try RefusingReceiver(backoff: "3s")
        defer { withExtendedLifetime(setup) {} }   // (its port stays reserved)
        let (outbox, clock, id, notifier) = (setup.outbox, setup.clock, setup.id, setup.notifier)
        let running = Task { await notifier.run() }
        func attempts() throws -> Int { try outbox.notification(id: id)?.attempts ?? 0 }
        func waitFor(_ count: Int, seconds: TimeInterval) async throws -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end { if try attempts() >= count { return true }; try await Task.sleep(for: .milliseconds(20)) }
            return false
        }
        #expect(try await waitFor(1, seconds: 30))
        clock.step(-3_600)
        #expect(try await waitFor(2, seconds: 15), "retried within seconds of the step")
        let due = try #require(try outbox.notification(id: id)).nextAttemptAt
        #expect(due < clock.now().addingTimeInterval(60), "next due \(due), now \(clock.now())")
        await notifier.shutdown(grace: .zero)
        running.cancel()
        await running.value
    }
}
