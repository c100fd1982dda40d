internal import CStateFileGuard
import Foundation

/// What this user may not do with the state database's files, in words an operator acts on.
/// SQLite needs to write the database and its `-wal` and `-shm` files, and to create and delete
/// them in the folder; the delivery lock lives beside them. A file another user created (root
/// running `overdued once` by hand beside a daemon that runs as its own user) is the usual cause.
public enum StateFileAccess {
    /// Nil when every file that exists is writable and the folder is; else the first problem.
    public static func problem(stateDatabase path: String) -> String? {
        let folder = (path as NSString).deletingLastPathComponent
        for file in [path, path + "-wal", path + "-shm", DeliveryLock.path(forStateDatabase: path)] {
            if let problem = problem(file: file) { return problem }
        }
        if access(folder.isEmpty ? "." : folder, W_OK) != 0 {
            if errno == EROFS { return readOnlyFileSystem(folder) }
            if errno == ENOENT || errno == ENOTDIR {
                return "the folder \(folder) does not exist (any more): SQLite creates and deletes the state database's -wal and "
                    + "-shm files there, and overdued its delivery lock; under the unit, StateDirectory= creates it at each start"
            }
            return "the folder \(folder) is not writable by this user (\(owner(of: folder))): SQLite creates and deletes the "
                + "state database's -wal and -shm files there, and overdued its delivery lock"
        }
        return nil
    }

    /// Why `file`, which exists, cannot be written by this user; nil when it can or is absent.
    /// One it cannot read either is said to be so (`queue` and `history` only read, and a
    /// user told "not writable" would look for the wrong permission).
    static func problem(file: String) -> String? {
        guard access(file, F_OK) == 0, access(file, W_OK) != 0 else { return nil }
        if errno == EROFS { return readOnlyFileSystem(file) }
        let what = access(file, R_OK) != 0 ? "neither readable nor writable" : "not writable"
        return "\(file) is \(what) by this user (\(owner(of: file))); if another user created it (root running "
            + "overdued by hand), give it to the user overdued runs as (chown), or run overdued by hand as that user"
    }

    /// A read-only mount, whoever owns the file: under the unit's `ProtectSystem=strict`, any
    /// path outside `StateDirectory=` and `ReadWritePaths=`. No `chown` helps.
    static func readOnlyFileSystem(_ path: String) -> String {
        "\(path) is on a read-only file system; the state database needs a writable one (under the unit's ProtectSystem=strict, "
            + "only /var/lib/overdued (StateDirectory=) and folders in ReadWritePaths= are writable: leave store.state_database "
            + "unset, or add its folder to ReadWritePaths=)"
    }

    /// Run as root in a folder that belongs to another user (the service's state folder, under
    /// `DynamicUser=`), gives the open file `descriptor`, if root owns it, to the folder's
    /// owner: a state database or lock that `overdued scan` or `once` run by hand created would
    /// otherwise be root's, and the service could never open it. By descriptor, not by name:
    /// the folder's owner could swap the name for a link to any file of root's in between.
    /// Errors are ignored (the service then names the file it cannot open).
    static func giveToFolderOwner(_ descriptor: Int32, folderOf path: String) {
        guard geteuid() == 0 else { return }
        let folder = (path as NSString).deletingLastPathComponent
        var owner = stat()
        guard stat(folder.isEmpty ? "." : folder, &owner) == 0, owner.st_uid != 0 else { return }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_uid == 0, isPlainFile(descriptor) else { return }
        _ = fchown(descriptor, owner.st_uid, owner.st_gid)
    }

    /// Creates the state database's file, empty (SQLite reads an empty file as a new
    /// database), readable and writable by its owner alone: it holds ticket titles and
    /// people's names, and SQLite would create it with the umask's mode (0644 under a shell's
    /// 022). SQLite gives its -wal and -shm files the database file's mode and owner. When root
    /// creates it in a folder that belongs to another user (the service's state folder, under
    /// `DynamicUser=`), the file is given to the folder's owner, or the service could never
    /// open it. Done before SQLite opens it: closing any descriptor of a file SQLite has open
    /// would drop the locks it holds on it. Nothing happens when the file exists.
    static func createPrivately(stateDatabase path: String) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        guard geteuid() == 0 else { return }
        let folder = (path as NSString).deletingLastPathComponent
        var owner = stat()
        guard stat(folder.isEmpty ? "." : folder, &owner) == 0, owner.st_uid != 0 else { return }
        _ = fchown(descriptor, owner.st_uid, owner.st_gid)
    }

    /// Why the state database cannot be opened as it is: a symbolic link at its path or at one
    /// of SQLite's files beside it. SQLite follows links; whoever can write the folder (the
    /// service's user) could point one at any file root may write, for `overdued history` or
    /// `scan` run by root to create it or add overdued's tables to it.
    static func linkProblem(stateDatabase path: String) -> String? {
        for file in [path, path + "-wal", path + "-shm", path + "-journal"] {
            var info = stat()
            if lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
                return "\(file) is a symbolic link, which overdued does not follow for its state database (whoever can write "
                    + "its folder could point it at any file); give the real path in store.state_database, or link the folder instead"
            }
        }
        return nil
    }

    /// Closes the window between `linkProblem` and SQLite's open: from now on SQLite itself
    /// refuses a link at the database's path or beside it (see `overdued_guard_state_files`).
    /// The path is given as SQLite names the file: the folder's own links resolved.
    static func refuseLinksFromSQLite(stateDatabase path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        guard let resolved = realpath(folder.isEmpty ? "." : folder, nil) else { return }
        let base = String(cString: resolved)
        free(resolved)
        let name = (path as NSString).lastPathComponent
        // -1 only when SQLite's VFS has no replaceable system calls (not on Linux); the
        // check before the open still refuses a link that is already there.
        _ = overdued_guard_state_files(base == "/" ? "/" + name : base + "/" + name)
    }

    /// A regular file with a single name: not a device, a folder, or a hard link to a file
    /// elsewhere.
    static func isPlainFile(_ descriptor: Int32) -> Bool {
        var info = stat()
        return fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && info.st_nlink == 1
    }

    /// "owned by uid 0, mode 0644; this process runs as uid 65534".
    static func owner(of path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "this process runs as uid \(geteuid())" }
        let mode = String(info.st_mode & 0o7777, radix: 8)
        return "owned by uid \(info.st_uid)\(outsideNamespace(info.st_uid)), mode 0\(mode); this process runs as uid \(geteuid())"
    }

    /// The overflow id a user namespace shows for an owner outside it (the unit's
    /// `PrivateUsers=yes` maps every user but the service's own so): said, or "uid 65534"
    /// reads as the owner.
    static func outsideNamespace(_ uid: uid_t) -> String {
        uid == 65_534 ? " (nobody, or, inside a user namespace such as the unit's PrivateUsers=yes, any owner outside it: look with ls -ln outside the service)" : ""
    }
}
