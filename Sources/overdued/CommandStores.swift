import ArgumentParser
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Systemd
import TimeZoneRules

/// The two databases a config names, opened; failures name the file and exit 1.
struct OpenStores {
    let tickets: TicketsDatabase
    let state: StateDatabase
    let outbox: Outbox
    /// Held by a command that delivers (`once`): see `DeliveryLock`. Keep the stores alive
    /// (`withExtendedLifetime`) until delivery is over.
    let deliveryLock: DeliveryLock?

    /// A folder of this process's own holding the state database a dry run decides on, when
    /// the real one is not there (an empty one) or is an earlier release's (an upgraded copy):
    /// `scan --dry-run` writes nothing. `removeScratch()` deletes it.
    let scratch: String?

    /// - Parameter delivering: take the state database's delivery lock first, and fail at
    ///   once if another process (`overdued run`, another `once`) holds it.
    /// - Parameter lookingOnly: write nothing (`scan --dry-run`): with no state database at
    ///   its path yet, decide against an empty one in a scratch folder instead of creating
    ///   it; with an earlier release's, against an upgraded copy instead of upgrading it.
    init(_ config: Config, delivering: Bool = false, lookingOnly: Bool = false) throws {
        var statePath = config.store.stateDatabase
        var scratch: String?
        // The file a dry run decides on a copy of (an earlier release's, or one with no state).
        var copied: String?
        if lookingOnly {
            // A link, even to nothing, is refused before anything opens what it points to.
            try openingStores(of: config) { () throws(StoreError) in try StateDatabaseCheck.refuseLink(path: statePath) }
            // Unreadable here (another user's file, say): the open below says why, in its words.
            let missing = (try? StateDatabaseCheck.missingMigrations(path: statePath, busyTimeout: config.store.busyTimeout)) ?? []
            if !FileManager.default.fileExists(atPath: statePath) || !missing.isEmpty {
                let folder = try DryRunScratch.make()
                scratch = folder
                statePath = folder + "/state.sqlite"
                if missing.isEmpty {
                    printError("note: no state database yet at \(config.store.stateDatabase): deciding as if nothing was notified yet (a dry run creates none)")
                } else if missing.count == StateDatabaseCheck.migrationCount {
                    copied = config.store.stateDatabase
                    printError("note: \(config.store.stateDatabase) holds no state of overdued's (empty, or another program's database): "
                        + "deciding on a copy of it made one (a dry run changes nothing)")
                } else {
                    // An earlier release's file: upgrading it would lock that release out of it.
                    copied = config.store.stateDatabase
                    printError("note: \(config.store.stateDatabase) is an earlier release's (it lacks \(missing.joined(separator: ", "))): "
                        + "deciding on an upgraded copy of it (a dry run changes nothing)")
                }
            }
        }
        self.scratch = scratch
        do {
            if let copied {
                try openingStores(of: config) { () throws(StoreError) in
                    try StateDatabaseCheck.copy(copied, to: statePath, busyTimeout: config.store.busyTimeout)
                }
            }
            // The state database at once after the lock, before the tickets database (which
            // may wait for the app's lock): other commands take a lock held with no state file,
            // or no -wal beside it, for one deleted under its deliverer.
            (deliveryLock, state, tickets) = try openingStores(of: config) { () throws(StoreError) in
                (delivering ? try DeliveryLock(stateDatabase: statePath) : nil,
                 try StateDatabase(path: statePath, busyTimeout: config.store.busyTimeout, upgradingBesideADeliverer: delivering,
                                   lookingOnly: lookingOnly && scratch == nil),
                 try TicketsDatabase(path: config.store.ticketsDatabase, busyTimeout: config.store.busyTimeout))
            }
        } catch {
            scratch.map(DryRunScratch.remove)
            throw error
        }
        outbox = Outbox(database: state)
        if let notice = state.upgradeNotice, scratch == nil { printError("note: \(notice)") }
    }

    func removeScratch() {
        guard let scratch else { return }
        _ = state.close()
        DryRunScratch.remove(scratch)
    }
}

/// The folders `scan --dry-run` decides in, never the real state database: one per run, named
/// with its process id. A run that was killed (Ctrl-C, `| head`) cannot remove its own: the
/// next dry run removes those whose process is gone.
enum DryRunScratch {
    static let prefix = "overdued-dry-run-"

    /// Sweeps the folders dead runs left behind, then makes this run's. Only a folder of this
    /// user's that no one else can write to is swept: the temporary folder is shared, and
    /// root removing a tree another user planted there (and can swap a symbolic link into
    /// while it is removed) would remove whatever that link points to.
    static func make() throws -> String {
        let temporary = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix) {
            let pid = name.dropFirst(prefix.count).prefix { $0.isNumber }
            let path = temporary + "/" + name
            if let pid = pid_t(pid), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH, isLeftByThisUser(path) {
                remove(path)
            }
        }
        var template = Array((temporary + "/" + prefix + "\(getpid())-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            printError("cannot make a scratch folder for the dry run in \(temporary): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        return String(cString: made)
    }

    static func remove(_ folder: String) {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A folder itself (not a link), owned by this user, that only its owner can write to
    /// (as `mkdtemp` makes it): nobody else can have put anything in it.
    static func isLeftByThisUser(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        return info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid() && info.st_mode & 0o022 == 0
    }
}

/// The state database alone, opened with its outbox: what the commands that only look at or
/// requeue notifications (`history`, `queue`, `send-test`) need. They work while the tickets
/// database is missing, as the daemon's delivery does.
struct OpenStateDatabase {
    let state: StateDatabase
    let outbox: Outbox

    /// - Parameter lookingOnly: the command only reads (`history`, `queue list`): the file
    ///   is opened read-only where it can be (`StateDatabase`'s `lookingOnly`).
    init(_ config: Config, lookingOnly: Bool = false) throws {
        state = try openingStores(of: config) { () throws(StoreError) in
            try StateDatabase(path: config.store.stateDatabase, busyTimeout: config.store.busyTimeout, upgradingBesideADeliverer: false,
                              lookingOnly: lookingOnly)
        }
        outbox = Outbox(database: state)
        if let notice = state.upgradeNotice { printError("note: \(notice)") }
    }
}

/// Whether the state database is there; a symbolic link at its path (even one to nothing) is
/// refused as every command that opens the file refuses it, not taken for "no state database".
func stateDatabaseExists(_ config: Config) throws -> Bool {
    try openingStores(of: config) { () throws(StoreError) in try StateDatabaseCheck.refuseLink(path: config.store.stateDatabase) }
    return FileManager.default.fileExists(atPath: config.store.stateDatabase)
}

/// Opens stores of `config`; a failure is printed with the config file's path and exits 1.
private func openingStores<Opened>(of config: Config, _ open: () throws(StoreError) -> Opened) throws -> Opened {
    do {
        return try open()
    } catch {
        printError("\(config.sourcePath): \(error.description)")
        throw ExitCode(1)
    }
}

/// `history` and `queue` only look: where there is no state database yet there is nothing to
/// show, and opening one would create it (as whoever runs the command, in a folder the daemon
/// may not use yet). Says so (JSON: an empty list on stdout, the note on stderr) and returns
/// true; false when the file exists.
func noStateDatabaseYet(_ config: Config, json: Bool = false) throws -> Bool {
    let path = config.store.stateDatabase
    guard try !stateDatabaseExists(config) else { return false }
    try refuseIfGoneUnderADeliverer(config)
    let note = "no state database yet at \(path): nothing has been queued or sent"
    if json {
        print("[]")
        printError(note)
    } else {
        print(note)
    }
    return true
}

/// No state database at its path while a deliverer holds its lock: it was deleted or moved
/// away under that process (the daemon stops within seconds), and "nothing has been queued or
/// sent" would be false. Says so and exits 1.
func refuseIfGoneUnderADeliverer(_ config: Config) throws {
    let path = config.store.stateDatabase
    do {
        try DeliveryLock.refuseIfHeld(stateDatabase: path)
    } catch where error.kind == .inUse {
        printError("\(config.sourcePath): no state database at \(path), though an overdued process\(DeliveryLock.holder(in: error)) "
            + "delivers from one there: it was deleted or moved away while that process runs (the daemon stops within seconds and "
            + "starts again on a new file); run this command again then")
        throw ExitCode(1)
    } catch {
        // The lock cannot be looked at (a folder that is gone): no deliverer there either.
    }
}
