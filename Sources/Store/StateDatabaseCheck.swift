import Foundation
internal import GRDB

/// What `check-config` verifies about the state database without creating or migrating it:
/// an existing file must open as a database written by this version or an older one; a new
/// one must be creatable in its folder.
public enum StateDatabaseCheck {
    public static func problem(path: String) -> String? {
        let manager = FileManager.default
        if manager.fileExists(atPath: path) {
            if let problem = StateFileAccess.problem(stateDatabase: path) { return problem }
            do {
                var configuration = Configuration()
                configuration.readonly = true
                let queue = try DatabaseQueue(path: path, configuration: configuration)
                let newer = try queue.read { db in try StateDatabase.newerSchemaProblem(db) }
                try queue.close()
                return newer.map { "\(path): \($0)" }
            } catch {
                return StoreError.from(error, path: path, doing: "open the state database").description
            }
        }
        let folder = (path as NSString).deletingLastPathComponent
        return manager.isWritableFile(atPath: folder) ? nil : "cannot create \(path): the folder \(folder) is not writable by this user"
    }
}
