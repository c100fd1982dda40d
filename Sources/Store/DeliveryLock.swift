import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The right to deliver from one state database, held by one process at a time: `run` and
/// `once` take it for their whole life. Two deliverers would each take the same due
/// notifications and send every one of them twice; the commands that only read or enqueue
/// (`scan`, `queue`, `history`, `queue retry`) do not take it.
///
/// It is an exclusive `flock` on `<state database>.lock`, a file beside the database and not
/// the database itself: closing any descriptor of the SQLite file would drop the POSIX locks
/// SQLite holds on it for the whole process. The kernel releases a `flock` when its process
/// ends, however it ends, so a crash or `SIGKILL` never leaves a stale lock behind (the file
/// stays, holding the last holder's pid, and is simply locked again).
///
/// A lock file deleted (or replaced) while held no longer keeps anyone out: a second process
/// would create a new file at the path and lock that one. `isAtItsPath()` tells the holder,
/// which takes a new lock, or stops if someone else already has (see the daemon).
public final class DeliveryLock: Sendable {
    /// The lock file.
    public let path: String
    private let descriptor: Int32

    /// Takes the lock without waiting; throws `.inUse`, naming the state database and the
    /// holder's pid when it is known, if another process holds it.
    public init(stateDatabase: String) throws(StoreError) {
        let path = Self.path(forStateDatabase: stateDatabase)
        // The file may be deleted between `open` and `flock` (by a holder's clean-up, or by
        // hand): the lock would then be on a file no other process can find. Lock again.
        for _ in 1...5 {
            let descriptor = try Self.lock(path, stateDatabase: stateDatabase)
            if let locked = Self.identity(of: descriptor), Self.identity(of: path) == locked {
                self.path = path
                self.descriptor = descriptor
                return
            }
            close(descriptor)
        }
        throw StoreError(.cannotOpen, path: stateDatabase,
                         message: "cannot lock \(path): the file was deleted or replaced each time it was locked")
    }

    /// Whether a deliverer holds the lock now, asked without keeping anyone out: a shared
    /// `flock`, taken and released at once. Two processes asking at the same instant (three
    /// `scan`s starting on a new file) do not see each other as deliverers, as two exclusive
    /// tries would. Throws `.inUse`, worded as `init` does, when a deliverer holds it.
    public static func refuseIfHeld(stateDatabase: String) throws(StoreError) {
        let path = Self.path(forStateDatabase: stateDatabase)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { return }    // never locked: no deliverer
            _ = try DeliveryLock(stateDatabase: stateDatabase)     // says why it cannot be opened
            return
        }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return
        }
        let code = errno
        guard code == EWOULDBLOCK else {
            throw StoreError(.cannotOpen, path: stateDatabase, message: "cannot lock \(path): \(String(cString: strerror(code)))")
        }
        throw Self.held(path, stateDatabase: stateDatabase, by: Self.pid(in: descriptor))
    }

    /// Whether a deliverer holds the lock of `stateDatabase` now (false when the lock file
    /// cannot be looked at: `refuseIfHeld` says why where it matters).
    public static func isHeld(stateDatabase: String) -> Bool {
        do {
            try refuseIfHeld(stateDatabase: stateDatabase)
            return false
        } catch {
            return error.kind == .inUse
        }
    }

    /// ` (pid N)`, the holder named in a refusal of `refuseIfHeld`, or "" when it names none.
    public static func holder(in refusal: StoreError) -> String {
        refusal.message.range(of: #"\(pid [0-9]+\)"#, options: .regularExpression).map { " " + refusal.message[$0] } ?? ""
    }

    /// `<state database>.lock`.
    public static func path(forStateDatabase stateDatabase: String) -> String {
        stateDatabase + ".lock"
    }

    /// Whether the lock file at `path` is still the file this process locked; false once
    /// it was deleted or replaced, when another process could lock a new one.
    public func isAtItsPath() -> Bool {
        guard let held = Self.identity(of: descriptor) else { return true }
        return Self.identity(of: path) == held
    }

    private static func identity(of path: String) -> FileIdentity? {
        var info = stat()
        return stat(path, &info) == 0 ? FileIdentity(info) : nil
    }

    private static func identity(of descriptor: Int32) -> FileIdentity? {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? FileIdentity(info) : nil
    }

    /// An open descriptor of `path` holding the exclusive flock, with this pid written in.
    private static func lock(_ path: String, stateDatabase: String) throws(StoreError) -> Int32 {
        // Readable by all (it holds a pid, nothing else): a lock left by another user (root
        // running `once` by hand) is opened read-only, which locks as well. Under the unit's
        // UMask=0077 it is the service's alone.
        // O_NOFOLLOW: the folder's owner (the service's user) could put a symbolic link here
        // for root's `once` to truncate and write through.
        var descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        let code = errno
        if descriptor < 0, code == EACCES { descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard descriptor >= 0 else {
            // The first refusal says why (a fallback's "No such file" would hide a folder
            // this user may not write to).
            let detail = if code == ELOOP {
                "it is a symbolic link, which overdued does not follow; remove it"
            } else if code == ENOSPC || code == EDQUOT {
                "the file system holding it is \(StoreError.fullFileSystem(holding: path) ?? "full (no space left)"); free some"
            } else {
                StateFileAccess.problem(stateDatabase: stateDatabase) ?? String(cString: strerror(code))
            }
            throw StoreError(code == ENOSPC || code == EDQUOT ? .full : .cannotOpen, path: stateDatabase,
                             message: "cannot open the delivery lock \(path): \(detail)")
        }
        guard StateFileAccess.isPlainFile(descriptor) else {
            close(descriptor)
            throw StoreError(.cannotOpen, path: stateDatabase,
                             message: "cannot use the delivery lock \(path): it is not a plain file with one name (a hard link?); remove it")
        }
        StateFileAccess.giveToFolderOwner(descriptor, folderOf: stateDatabase)
        switch lockExclusively(descriptor) {
        case .locked:
            break
        case .heldByDeliverer:
            let holder = Self.pid(in: descriptor)
            close(descriptor)
            throw Self.held(path, stateDatabase: stateDatabase, by: holder)
        case .heldByAskers:
            close(descriptor)
            throw StoreError(.inUse, path: stateDatabase,
                             message: "cannot lock \(path): other overdued commands kept asking whether a deliverer holds it "
                                 + "for \(askersGrace) without a pause; try again")
        case .failed(let code):
            close(descriptor)
            throw StoreError(.cannotOpen, path: stateDatabase,
                             message: "cannot lock \(path): \(String(cString: strerror(code)))")
        }
        // For the message a second process prints; the lock itself is the flock.
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
        return descriptor
    }

    /// How long a deliverer waits for other commands' questions to end.
    static let askersGrace: Duration = .seconds(2)

    /// What an exclusive `flock` without waiting for a deliverer came to.
    enum ExclusiveTry: Equatable {
        case locked
        /// Another process holds the file exclusively: a deliverer.
        case heldByDeliverer
        /// Only shared locks, one after another, for all of the grace.
        case heldByAskers
        case failed(errno: Int32)
    }

    /// Other commands asking `refuseIfHeld` hold a shared lock for microseconds: a deliverer
    /// starting in those microseconds (the daemon's start beside an operator's `overdued
    /// queue` in a loop) would refuse as if another deliverer ran. A shared lock it can take
    /// itself shows that no deliverer holds the file, only askers: it tries again for up to
    /// `askersGrace`.
    static func lockExclusively(_ descriptor: Int32, askersGrace: Duration = askersGrace) -> ExclusiveTry {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: askersGrace)
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return .locked }
            let code = errno
            guard code == EWOULDBLOCK else { return .failed(errno: code) }
            guard flock(descriptor, LOCK_SH | LOCK_NB) == 0 else { return .heldByDeliverer }
            flock(descriptor, LOCK_UN)
            guard clock.now < deadline else { return .heldByAskers }
            usleep(1_000)
        }
    }

    private static func held(_ path: String, stateDatabase: String, by holder: Int32?) -> StoreError {
        let who = holder.map { "another overdued process (pid \($0))" } ?? "another overdued process"
        return StoreError(.inUse, path: stateDatabase,
                          message: "\(who) is already delivering from this state database (it holds \(path)); "
                              + "only one `overdued run` or `overdued once` may deliver from it at a time, "
                              + "or every notification would be sent twice")
    }

    deinit {
        close(descriptor)
    }

    /// The pid the holder wrote, if the file holds one.
    private static func pid(in descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
