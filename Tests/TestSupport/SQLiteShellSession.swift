import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The app as another process: a `sqlite3` shell on a database, fed SQL on its standard input
/// and kept running (its connection open, its locks held) until `end(with:)`.
public final class SQLiteShellSession {
    private let process = Process()
    private let input = Pipe()

    public init(_ database: String, sql: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data((sql + "\n").utf8))
    }

    /// Sends `sql` (if any), closes the shell's input and waits for it to exit.
    public func end(with sql: String = "") {
        guard process.isRunning else { return }
        if !sql.isEmpty { input.fileHandleForWriting.write(Data((sql + "\n").utf8)) }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
