import Dispatch
import Foundation
import Store

/// Writes delivery attempts with group commit: an attempt that finishes while a write is
/// running waits for the next write, which takes every attempt that finished meanwhile in
/// one transaction. At low rates each attempt is its own transaction, as before, and adds no
/// delay; under load the state database sees one commit per batch instead of one per request.
///
/// A delivery counts as done only when its record is committed: the worker awaits `record`,
/// so a crash before the commit sends the notification again (same `webhook-id`), never
/// loses it. The writes run on their own serial queue, not on the cooperative thread pool
/// that the deliveries share.
///
/// Requests about to leave are written down the same way (`started`), before they leave: one
/// whose process ends before its answer is recorded is then known to the next deliverer
/// (`Outbox.interruptedAttempts`), which counts it as a failed attempt.
final class AttemptRecorder: Sendable {
    private let outbox: Outbox
    private let queue = DispatchQueue(label: "overdued.attempt-recorder")
    private let state = LockedState(State())

    private enum Entry {
        case attempt(RecordedAttempt)
        case started(StartedAttempt)
        case forgotten(String)
        /// The wall clock was set back (`DeliveryContext.observeClock`): the due times
        /// recorded before this entry move back (`Outbox.moveDueTimes`); those after it were
        /// decided on the new clock, and stay.
        case movedDueTimes(back: TimeInterval, now: Date, moved: @Sendable (Result<Int, StoreError>) -> Void)
        /// Nothing to write: done once everything before it is written (`written()`).
        case barrier
    }

    private struct Waiting {
        var entry: Entry
        var done: @Sendable (Result<Void, StoreError>) -> Void
    }

    private struct State {
        var waiting: [Waiting] = []
        var writing = false
        var committed = 0
    }

    init(outbox: Outbox) {
        self.outbox = outbox
    }

    /// Attempts committed so far: when it moves, the queue has changed.
    var committed: Int { state.withLock { $0.committed } }

    /// The queue changed by other writes of the notifier's (attempts cut off by an earlier
    /// process, a retry given up unsent): `committed` moves with them, so the status counts
    /// the queue again.
    func noteQueueChanged(by count: Int) {
        state.withLock { $0.committed += count }
    }

    /// Returns once the attempt is committed (with every other attempt of its batch), or
    /// with the error that made the batch's transaction fail.
    func record(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome, at now: Date, mayHaveArrived: Bool = false) async -> Result<Void, StoreError> {
        await commit(.attempt(RecordedAttempt(attempt: attempt, outcome: outcome, at: now, mayHaveArrived: mayHaveArrived)))
    }

    /// Returns once it is written down that this attempt's request is about to leave, or
    /// after `bound` if the state database has not taken it by then (another process holds
    /// its write lock: the request does not wait for all of `busy_timeout`; the mark is still
    /// written before the attempt's record, which comes after it on the same queue).
    func started(_ attempt: StartedAttempt, waitingAtMost bound: Duration) async {
        let resumed = LockedState(false)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resume: @Sendable () -> Void = {
                if resumed.withLock({ state in defer { state = true }; return !state }) { continuation.resume() }
            }
            enqueue(.started(attempt)) { _ in resume() }
            // Not on `queue`: that one waits for the lock.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(bound / .milliseconds(1)))) { resume() }
        }
    }

    /// The request marked with `started` did not go (a stop cut it before its answer): its
    /// mark goes, after the mark itself on this queue, whenever that is written.
    func forget(startedOf id: String) async -> Result<Void, StoreError> {
        await commit(.forgotten(id))
    }

    /// Moves the queue's due times back by `seconds` after what is already waiting to be
    /// written, and before what comes after (see `Entry.movedDueTimes`); `moved` is called
    /// with how many moved. Does not wait.
    func moveDueTimes(back seconds: TimeInterval, now: Date, moved: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        enqueue(.movedDueTimes(back: seconds, now: now, moved: moved)) { _ in }
    }

    /// Returns once everything enqueued before this call has been written (or has failed).
    func written() async {
        _ = await commit(.barrier)
    }

    private func commit(_ entry: Entry) async -> Result<Void, StoreError> {
        await withCheckedContinuation { continuation in
            enqueue(entry) { continuation.resume(returning: $0) }
        }
    }

    private func enqueue(_ entry: Entry, done: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        let leads = state.withLock { state -> Bool in
            state.waiting.append(Waiting(entry: entry, done: done))
            if state.writing { return false }
            state.writing = true
            return true
        }
        if leads { queue.async { self.writeUntilEmpty() } }
    }

    private func writeUntilEmpty() {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let batch = state.waiting
                state.waiting = []
                if batch.isEmpty { state.writing = false }
                return batch
            }
            if batch.isEmpty { return }
            // In order: what came before a move of the due times is written before it.
            var segment: [Waiting] = []
            for waiting in batch {
                if case .movedDueTimes(let seconds, let now, let moved) = waiting.entry {
                    write(segment)
                    segment = []
                    do throws(StoreError) {
                        moved(.success(try outbox.moveDueTimes(back: seconds, now: now)))
                    } catch {
                        moved(.failure(error))
                    }
                    waiting.done(.success(()))
                } else if case .barrier = waiting.entry {
                    write(segment)
                    segment = []
                    waiting.done(.success(()))
                } else {
                    segment.append(waiting)
                }
            }
            write(segment)
        }
    }

    /// One transaction for the attempts, marks and forgotten marks of `batch`.
    private func write(_ batch: [Waiting]) {
        guard !batch.isEmpty else { return }
        let result: Result<Void, StoreError>
        var attempts: [RecordedAttempt] = [], starting: [StartedAttempt] = [], forgetting: [String] = []
        for waiting in batch {
            switch waiting.entry {
            case .attempt(let attempt): attempts.append(attempt)
            case .started(let started): starting.append(started)
            case .forgotten(let id): forgetting.append(id)
            case .movedDueTimes, .barrier: break
            }
        }
        do {
            try outbox.record(attempts, starting: starting, forgetting: forgetting)
            state.withLock { $0.committed += attempts.count }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        for waiting in batch { waiting.done(result) }
    }
}
