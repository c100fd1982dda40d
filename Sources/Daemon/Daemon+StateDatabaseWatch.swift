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
    /// The state database's file was deleted or replaced under the open handle: what the
    /// daemon would write from now on goes into a file nobody will ever open again (lost at
    /// the next start), and new connections fail for ever. Stop with an error instead, so that
    /// the service manager starts a fresh daemon on a fresh file.
    func stateDatabaseLost() -> Bool {
        guard let change = outbox.database.fileChange() else { return false }
        // Said once: the status refresh and a tick may both find it before the stop ends.
        guard !stateLossReported.exchange(true, ordering: .acquiringAndReleasing) else { return true }
        let reason = "the state database \(outbox.database.path) \(change) while overdued was running"
        let restart = if case .logGone = change {
            // The file is there: the stop's close copies the log it holds open into it.
            "Stopping with an error, after copying what the log held into the file, so that the service restarts on it with every record"
        } else {
            "Stopping with an error so that the service restarts on a fresh file"
        }
        logger.critical("\(reason); nothing more is enqueued or delivered into it. \(restart)", metadata: ["event": "stop"])
        failure.withLock { $0 = $0 ?? reason }
        requestStop()
        return true
    }

    /// What one look at the delivery lock found.
    enum LockCheck {
        case held
        case lockedAgain
        /// The path cannot be locked (a folder there, permissions): nobody else can lock it
        /// either, so this process goes on, with a warning.
        case cannotLockAgain(StoreError)
        /// Another process locked the new file first.
        case takenOver(StoreError)
    }

    /// The delivery lock's file was deleted or replaced (by hand, a clean-up of the state
    /// folder): another `run` or `once` could now lock a new file and deliver beside this
    /// daemon, sending everything twice. Checked at each tick, every few seconds, and before
    /// deliveries (at most every `lockCheckInterval`): lock the path again, or, when another
    /// process already holds it, stop with an error so that one deliverer is left. The look
    /// and the new lock are one step under the mutex: two threads never both lock again (the
    /// second would find the first's lock held, "by another process"). Returns whether this
    /// process may go on delivering.
    @discardableResult
    func keepDeliveryLock() -> Bool {
        let (path, check) = deliveryLock.withLock { lock -> (String, LockCheck) in
            guard !lock.isAtItsPath() else { return (lock.path, .held) }
            do throws(StoreError) {
                lock = try DeliveryLock(stateDatabase: outbox.database.path)
                return (lock.path, .lockedAgain)
            } catch where error.kind == .inUse {
                return (lock.path, .takenOver(error))
            } catch {
                return (lock.path, .cannotLockAgain(error))
            }
        }
        switch check {
        case .held:
            return !isStopping
        case .lockedAgain:
            logger.warning("the delivery lock \(path) was deleted or replaced while overdued was running; locked it again")
            return !isStopping
        case .cannotLockAgain(let error):
            let first = lockProblemWarned.withLock { warned in defer { warned = true }; return !warned }
            if first {
                logger.warning("the delivery lock \(path) was deleted or replaced and cannot be made again (\(error.message)); no other run or once can lock it either: still delivering")
            }
            return !isStopping
        case .takenOver(let error):
            let reason = "the delivery lock \(path) was deleted or replaced, and another process locked it: \(error.message)"
            logger.critical("\(reason). Stopping with an error so that only one process delivers", metadata: ["event": "stop"])
            failure.withLock { $0 = $0 ?? reason }
            requestStop()
            return false
        }
    }

    /// `keepDeliveryLock()` for the notifier, before each request: two `stat`s, at most
    /// every `lockCheckInterval` (the last answer in between).
    func mayDeliver() -> Bool {
        let now = ContinuousClock.now
        let due = lockCheckedAt.withLock { last -> Bool in
            guard last.map({ $0.duration(to: now) >= Self.lockCheckInterval }) ?? true else { return false }
            last = now
            return true
        }
        return due ? keepDeliveryLock() : !isStopping
    }

    static let lockCheckInterval: Duration = .milliseconds(100)

    /// The queue's counts for the status line, or nil when the state database did not give
    /// them (the line keeps the last ones). A damaged file stops the daemon, as a tick's
    /// finding does; another failure is logged once, until a count succeeds again.
    func queueBacklog() -> QueueBacklog? {
        do {
            let backlog = try outbox.backlog()
            if backlogProblem.withLock({ $0.take() }) != nil {
                logger.notice("the state database gives the queue's counts again")
            }
            return backlog
        } catch where error.kind == .corrupt && error.path == outbox.database.path {
            stateDatabaseDamaged(error)
        } catch {
            let first = backlogProblem.withLock { problem in
                defer { problem = error.description }
                return problem == nil
            }
            if first { logger.warning("cannot count the queue for the status line, which keeps the last counts: \(error.description)") }
        }
        return nil
    }

    /// The state database's file is damaged: no tick can enqueue and no delivery be recorded
    /// until someone repairs or restores it, and waiting does not heal it. Stop with an error,
    /// like a lost file, so that the unit's failure shows (after `Restart=on-failure` has tried
    /// a few times, `systemctl status` says failed) instead of a daemon that only logs.
    func stateDatabaseDamaged(_ error: StoreError) {
        // Said once: the tick and the status refresh may both find it before the stop ends.
        guard !stateDamageReported.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.critical("\(error.description); stopping with an error: nothing can be enqueued or recorded until the file is repaired or restored",
                        metadata: ["event": "stop"])
        failure.withLock { $0 = $0 ?? "the state database \(outbox.database.path) is damaged" }
        requestStop()
    }
}
