internal import GRDBSQLite

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// What overdued reads of an SQLite file's own bytes, for either database (the app's and its
/// own): never through a descriptor of its own, always through SQLite's file layer.
enum SQLiteFile {
    /// Whether the file's header says WAL mode (write and read versions 2, bytes 18 and 19).
    ///
    /// Read through SQLite's own file layer, never with an `open` and `close` of our own: a
    /// process's POSIX locks on a file all go with the first `close` of any of its descriptors
    /// of it. A connection already open on this database (the one a reopen replaces, or the
    /// tick's while a reload checks the new config) would silently lose its lock: in WAL mode
    /// the app's next close then takes the database for its last user, deletes the -wal and
    /// -shm, and that connection reads a stale index from then on. SQLite's unix layer keeps
    /// such a descriptor open until the locks are gone.
    static func isWAL(_ path: String) -> Bool {
        guard let header = header(path, count: 20), header.count == 20,
              header.prefix(16).elementsEqual("SQLite format 3\0".utf8) else { return false }
        return header[18] == 2 && header[19] == 2
    }

    /// The file SQLite works on for `path`: its symbolic links resolved, as SQLite resolves
    /// them when it opens a database (and then keeps its -wal, -shm and -journal beside the
    /// target, not beside the link); `path` itself when it cannot be resolved (not there).
    static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// The file SQLite keeps beside the database at `path` (`-wal`, `-shm`, `-journal`).
    static func companion(of path: String, _ suffix: String) -> String {
        resolved(path) + suffix
    }

    /// The first `count` bytes of the database file, read by the default VFS; nil when it
    /// cannot be opened or is shorter. A link is followed (SQLite's layer opens with
    /// `O_NOFOLLOW`: a link was read as no database, and a WAL database closed by the app as
    /// one in another mode).
    static func header(_ linkedPath: String, count: Int) -> [UInt8]? {
        let path = resolved(linkedPath)
        guard let vfs = sqlite3_vfs_find(nil), let open = vfs.pointee.xOpen else { return nil }
        let file = UnsafeMutableRawPointer.allocate(byteCount: Int(vfs.pointee.szOsFile), alignment: 16)
        defer { file.deallocate() }
        memset(file, 0, Int(vfs.pointee.szOsFile))
        let handle = file.assumingMemoryBound(to: sqlite3_file.self)
        // The unix VFS keeps the name (and reads it again at close); a database name ends with
        // two NULs (no URI parameters follow), as the ones SQLite passes do.
        let name = UnsafeMutablePointer<CChar>.allocate(capacity: path.utf8.count + 2)
        defer { name.deallocate() }
        _ = path.withCString { strcpy(name, $0) }
        name[path.utf8.count + 1] = 0
        var flags: Int32 = 0
        let opened = open(vfs, name, handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB, &flags)
        // xClose must be called once pMethods is set, even when xOpen failed (before the name goes).
        defer { if let methods = handle.pointee.pMethods { _ = methods.pointee.xClose(handle) } }
        guard opened == SQLITE_OK, let read = handle.pointee.pMethods?.pointee.xRead else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBytes { buffer in read(handle, buffer.baseAddress, Int32(count), 0) }
        return status == SQLITE_OK ? bytes : nil
    }
}
