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
final class AttemptRecorder: Sendable {
    private let outbox: Outbox
    private let queue = DispatchQueue(label: "overdued.attempt-recorder")
    private let state = LockedState(State())

    private struct Waiting {
        var entry: RecordedAttempt
        var continuation: CheckedContinuation<Result<Void, StoreError>, Never>
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

    /// Returns once the attempt is committed (with every other attempt of its batch), or
    /// with the error that made the batch's transaction fail.
    func record(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome, at now: Date) async -> Result<Void, StoreError> {
        await withCheckedContinuation { continuation in
            let leads = state.withLock { state -> Bool in
                state.waiting.append(Waiting(entry: RecordedAttempt(attempt: attempt, outcome: outcome, at: now), continuation: continuation))
                if state.writing { return false }
                state.writing = true
                return true
            }
            if leads { queue.async { self.writeUntilEmpty() } }
        }
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
            let result: Result<Void, StoreError>
            do {
                try outbox.record(batch.map(\.entry))
                state.withLock { $0.committed += batch.count }
                result = .success(())
            } catch {
                result = .failure(error)
            }
            for waiting in batch { waiting.continuation.resume(returning: result) }
        }
    }
}
