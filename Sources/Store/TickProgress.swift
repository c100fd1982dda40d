import Foundation
import Synchronization
internal import GRDB
internal import GRDBSQLite

/// The progress of one long piece of work (a tick), and the way to stop it part-way.
///
/// A tick on a large rule set reads, decides and writes for a long time (a rule matching a
/// million tickets: a minute). Two things must still hold meanwhile: the watchdog must tell
/// that it advances from a hang, and `SIGTERM` must stop it within seconds, not when it ends.
/// So the work reports each step here (`checkpoint()` in Swift loops, SQLite's progress
/// handler while a query of the tickets database runs), and fails with `.interrupted` once
/// `interrupt()` was called. An interrupted tick wrote nothing: its enqueue is one
/// transaction, rolled back, and the next start evaluates again.
///
/// Only the tick's own work reports here. The notifier's writes to the state database never
/// do: they would make a stuck tick look alive, and an interrupt must not cost a delivery
/// its record.
public final class TickProgress: Sendable {
    private let steps = Atomic<UInt64>(0)
    private let interrupted = Atomic<Bool>(false)
    private let superseded = Atomic<Bool>(false)

    public init() {}

    /// How many steps were reported so far; a value that moves means work advances.
    public var stepCount: UInt64 { steps.load(ordering: .relaxed) }

    public var isInterrupted: Bool { interrupted.load(ordering: .relaxed) }

    /// From now on every checkpoint and tickets query fails with `.interrupted` (stop).
    public func interrupt() {
        interrupted.store(true, ordering: .relaxed)
    }

    /// A reload changed what the tick in progress evaluates (its rules, the zone): that tick
    /// stops at its next step, its enqueue rolled back, so that nothing is queued under rules
    /// the operator has just replaced; the daemon then evaluates again with the new ones.
    /// Unlike `interrupt()`, only until `beginTick()`. A wait for the app's lock goes on.
    public func supersedeTick() {
        superseded.store(true, ordering: .relaxed)
    }

    /// A tick starts, with the config in force now: an earlier `supersedeTick()` is done with.
    /// Call it before the tick reads the config.
    public func beginTick() {
        superseded.store(false, ordering: .relaxed)
    }

    /// Whether the tick in progress was stopped by `supersedeTick()` (its `.interrupted`
    /// error is then not a stop).
    public var isSuperseded: Bool { superseded.load(ordering: .relaxed) }

    /// One step done; throws `.interrupted` once `interrupt()` or `supersedeTick()` was called.
    public func checkpoint() throws(StoreError) {
        steps.add(1, ordering: .relaxed)
        if interrupted.load(ordering: .relaxed) {
            throw StoreError(.interrupted, path: "", message: "interrupted: overdued is stopping")
        }
        if superseded.load(ordering: .relaxed) {
            throw StoreError(.interrupted, path: "", message: "interrupted: a reload changed the rules")
        }
    }

    /// Waiting for the app's lock as `busy_timeout` does (retrying for up to `timeout`), but
    /// in 10 ms steps that give up at once after `interrupt()`: a stop must not wait out the
    /// lock (SQLite's own timeout sleeps on, and runs no statement step to interrupt).
    func busyMode(timeout: Duration) -> Database.BusyMode {
        LockWait.busyMode(timeout: timeout) { [self] _ in isInterrupted }
    }

    /// SQLite calls this every `sqliteStepsPerCall` virtual machine steps of a statement on a
    /// connection it is installed on; a non-zero answer stops the statement (SQLITE_INTERRUPT).
    static let sqliteStepsPerCall: Int32 = 20_000

    /// Reports SQLite's work on `db` here, and interrupts it after `interrupt()`. The
    /// connection must not outlive this object (its owner keeps both).
    func install(on db: Database) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(db.sqliteConnection, Self.sqliteStepsPerCall, { context in
            guard let context else { return 0 }
            let progress = Unmanaged<TickProgress>.fromOpaque(context).takeUnretainedValue()
            progress.steps.add(1, ordering: .relaxed)
            return progress.interrupted.load(ordering: .relaxed) || progress.superseded.load(ordering: .relaxed) ? 1 : 0
        }, context)
    }
}
