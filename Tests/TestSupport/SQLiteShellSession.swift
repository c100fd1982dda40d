import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The app as another process: a `sqlite3` shell on a database, fed SQL on its standard input
/// and kept running (its connection open, its locks held) until `end(with:)`.
///
/// The initialiser returns only once the shell has run `sql`: a lock it takes is held when
/// the caller goes on. The shell waits up to 30 s for another connection's lock (its own
/// default is not to wait), and a statement that fails anyway throws with the shell's words,
/// so that a test never goes on believing it holds a lock it did not get.
public final class SQLiteShellSession {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let transcript = Transcript()
    private static let marker = "overdued-test-shell-ran-the-sql"

    public init(_ database: String, sql: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database]
        process.standardInput = input
        // One pipe for both, so an error is read before the marker that follows it.
        process.standardOutput = output
        process.standardError = output
        let transcript = transcript
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { transcript.append(data) }
        }
        try process.run()
        input.fileHandleForWriting.write(Data(".timeout 30000\n\(sql)\nSELECT '\(Self.marker)';\n".utf8))
        let deadline = Date().addingTimeInterval(40)
        while !transcript.text.contains(Self.marker) {
            guard process.isRunning, Date() < deadline else {
                throw Failure(description: "sqlite3 \(database) did not run the SQL: \(transcript.text)")
            }
            usleep(5_000)
        }
        let before = transcript.text.components(separatedBy: Self.marker)[0]
        if before.contains("Error") || before.contains("error") {
            end()
            throw Failure(description: "sqlite3 \(database): \(before)")
        }
    }

    /// Sends `sql` (if any), closes the shell's input and waits for it to exit.
    public func end(with sql: String = "") {
        guard process.isRunning else { return }
        if !sql.isEmpty { input.fileHandleForWriting.write(Data((sql + "\n").utf8)) }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Kills the shell (SIGKILL) as a crash would, leaving whatever files it had made, and
    /// waits for it to be gone.
    public func crash() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// What the shell printed so far, appended from the pipe's reading thread.
private final class Transcript: Sendable {
    private let data = Mutex(Data())

    func append(_ more: Data) { data.withLock { $0.append(more) } }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
