import Foundation
import Synchronization
internal import GRDB

/// Waiting for a lock another process holds as SQLite's `busy_timeout` does (retrying for up
/// to `timeout`), but in 10 ms steps that end as soon as `giveUp` says so. SQLite's own
/// timeout sleeps on whatever happens meanwhile, and a stop must not wait it out.
enum LockWait {
    static let step: Duration = .milliseconds(10)

    /// - Parameter giveUp: asked before each step with how long this wait has lasted.
    static func busyMode(timeout: Duration, giveUp: @escaping @Sendable (_ waited: Duration) -> Bool) -> Database.BusyMode {
        let tries = Int(timeout / step)
        return .callback { triesSoFar in
            guard triesSoFar < tries, !giveUp(step * triesSoFar) else { return false }
            usleep(useconds_t(step.timeInterval * 1_000_000))
            return true
        }
    }
}

/// What the state database's waits for a lock may last, changed while it is open: cut to
/// nothing by a stop, to 100 ms while a checkpoint runs.
final class StateLockWaits: Sendable {
    private let abandoned = Atomic<Bool>(false)
    private let checkpoints = Atomic<Int>(0)

    /// The longest wait while a checkpoint runs: a checkpoint that waits holds back every
    /// writer meanwhile. For all the connections of the database while it runs: the readers'
    /// waits are rare (WAL), and the writer is the one checkpointing.
    static let checkpointWait: Duration = .milliseconds(100)

    func giveUp(after waited: Duration) -> Bool {
        abandoned.load(ordering: .relaxed) || (checkpoints.load(ordering: .relaxed) > 0 && waited >= Self.checkpointWait)
    }

    func abandon() { abandoned.store(true, ordering: .relaxed) }
    func shorten() { checkpoints.add(1, ordering: .relaxed) }
    func endShortening() { checkpoints.subtract(1, ordering: .relaxed) }
}
