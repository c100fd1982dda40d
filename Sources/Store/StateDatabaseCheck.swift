import Foundation
internal import GRDB

/// What `check-config` verifies about the state database without creating or migrating it:
/// an existing file must open as a database written by this version or an older one; a new
/// one must be creatable in its folder.
public enum StateDatabaseCheck {
    /// - Parameter busyTimeout: `store.busy_timeout`: another process may hold the file a
    ///   moment (a write, the recovery of its write-ahead log after a crash); waited for in
    ///   rounds, as every other command does (`StateDatabase.inOpenRounds`).
    public static func problem(path: String, busyTimeout: Duration = .seconds(5)) -> String? {
        // Before anything else: a link (even one to nothing) is what every other command refuses.
        if let problem = StateFileAccess.linkProblem(stateDatabase: path) { return problem }
        let manager = FileManager.default
        if manager.fileExists(atPath: path) {
            if let problem = StateFileAccess.problem(stateDatabase: path) { return problem }
            do {
                let configuration = readOnly(busyTimeout)
                let newer = try StateDatabase.inOpenRounds {
                    let queue = try DatabaseQueue(path: path, configuration: configuration)
                    defer { try? queue.close() }
                    return try queue.read { db in try StateDatabase.newerSchemaProblem(db) }
                }
                return newer.map { "\(path): \($0)" }
            } catch {
                return StoreError.from(error, path: path, doing: "open the state database").description
            }
        }
        let folder = (path as NSString).deletingLastPathComponent
        guard access(folder.isEmpty ? "." : folder, W_OK) != 0 else { return nil }
        if errno == EROFS { return "cannot create \(path): " + StateFileAccess.readOnlyFileSystem(folder) }
        return "cannot create \(path): the folder \(folder) is not writable by this user"
    }

    /// Throws where every command refuses to open the state database: a symbolic link at its
    /// path or at its `-wal`, `-shm` or `-journal` (even one to nothing). The commands that
    /// look whether the file is there first (`history`, `queue`) ask this before: a link to
    /// nothing is not "no state database yet".
    public static func refuseLink(path: String) throws(StoreError) {
        if let problem = StateFileAccess.linkProblem(stateDatabase: path) {
            throw StoreError(.cannotOpen, path: path, message: "could not open the state database: \(problem)")
        }
        StateFileAccess.refuseLinksFromSQLite(stateDatabase: path)
    }

    /// How these checks open the file: reading only, waiting `busyTimeout` for a writer.
    private static func readOnly(_ busyTimeout: Duration) -> Configuration {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout.timeInterval)
        return configuration
    }

    /// The migrations this release would apply to the file at `path`: an earlier release's
    /// missing ones, or all of them for a file with none (empty, or another program's); empty
    /// for one up to date, from the future, or not there. Read-only.
    public static func missingMigrations(path: String, busyTimeout: Duration = .seconds(5)) throws(StoreError) -> [String] {
        try refuseLink(path: path)
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        do {
            let configuration = readOnly(busyTimeout)
            let applied = try StateDatabase.inOpenRounds {
                let queue = try DatabaseQueue(path: path, configuration: configuration)
                defer { try? queue.close() }
                return try queue.read { db in try StateDatabase.migrator.appliedIdentifiers(db) }
            }
            // No migration at all: an empty file, or another program's database, which
            // opening it as the state database would fill with overdued's tables.
            return StateDatabase.migrator.migrations.filter { !applied.contains($0) }
        } catch {
            throw StoreError.from(error, path: path, doing: "read the state database's version")
        }
    }

    /// How many migrations this release knows.
    public static var migrationCount: Int { StateDatabase.migrator.migrations.count }

    /// A copy of the state database at `path`, as one consistent snapshot (SQLite's backup,
    /// its write-ahead log included), at `destination`; the original is only read.
    public static func copy(_ path: String, to destination: String, busyTimeout: Duration = .seconds(5)) throws(StoreError) {
        try refuseLink(path: path)
        do {
            let configuration = readOnly(busyTimeout)
            let source = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? source.close() }
            let copy = try DatabaseQueue(path: destination)
            defer { try? copy.close() }
            try source.backup(to: copy)
        } catch {
            throw StoreError.from(error, path: path, doing: "copy the state database")
        }
    }

    /// A state database every user may read (made by an earlier release, which left the mode
    /// to the umask): it holds ticket titles and people's names.
    public static func warning(path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mode & 0o004 != 0 else { return nil }
        return "\(path) is readable by every user (mode 0\(String(info.st_mode & 0o777, radix: 8))): it holds ticket titles and "
            + "people's names; chmod 600 it and its -wal and -shm files (new state databases are created 0600)"
    }
}
