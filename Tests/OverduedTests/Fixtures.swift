import Foundation
import Store
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The `overdued` executable of the same build as the tests: beside the test executable
/// (`.build/debug`, or the `--scratch-path`'s, or release's). No fallback to another folder:
/// the tests looked one folder too high, found nothing, and ran `.build/debug/overdued` for any
/// build, a stale binary or another build's (the sanitizer audit's AddressSanitizer run started
/// the ThreadSanitizer build's).
enum Binary {
    static let url: URL = {
        let folder = Bundle.main.executableURL?.deletingLastPathComponent() ?? Bundle.main.bundleURL
        return folder.appendingPathComponent("overdued")
    }()
}

/// The result of running the binary to completion.
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `overdued ARGS...` and waits (with a deadline) for it to exit; `prefix` runs it under
/// another command (`setpriv ...`).
func runOverdued(_ arguments: [String], environment: [String: String] = [:], prefix: [String] = [],
                 timeout: TimeInterval = 60) throws -> CommandResult {
    let process = Process()
    if let command = prefix.first {
        process.executableURL = URL(fileURLWithPath: command)
        process.arguments = prefix.dropFirst() + [Binary.url.path] + arguments
    } else {
        process.executableURL = Binary.url
        process.arguments = arguments
    }
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "NOTIFY_SOCKET")
    env.removeValue(forKey: "OVERDUED_CONFIG")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes while the child runs, so a large output cannot block it.
    let outData = LockedData(), errData = LockedData()
    let group = DispatchGroup()
    for (pipe, sink) in [(out, outData), (err, errData)] {
        group.enter()
        DispatchQueue.global().async {
            sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
    }
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(10_000) }
    if process.isRunning {
        killTree(process.processIdentifier)
        Issue.record("overdued \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
    }
    process.waitUntilExit()
    group.wait()
    return CommandResult(status: process.terminationStatus,
                         stdout: String(decoding: outData.get(), as: UTF8.self),
                         stderr: String(decoding: errData.get(), as: UTF8.self))
}

/// SIGKILLs `pid` and every process under it: under a `prefix` (`faketime` forks) the
/// overdued process is a grandchild, which killing the child alone left running for ever.
func killTree(_ pid: pid_t) {
    kill(pid, SIGSTOP)   // no new children meanwhile
    let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    for thread in threads {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ pid_t($0) }) { killTree(child) }
    }
    kill(pid, SIGKILL)
}

/// How to run overdued as a user without write access to a folder the tests create: as is when
/// the tests do not run as root (the folder is then made read-only), else as `nobody` under
/// `setpriv`; nil when neither can be arranged (no setpriv, or nobody cannot run the binary).
enum Unprivileged {
    static let prefix: [String]? = {
        guard getuid() == 0 else { return [] }
        let setpriv = "/usr/bin/setpriv"
        guard FileManager.default.isExecutableFile(atPath: setpriv) else { return nil }
        let prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        return (try? runOverdued(["--version"], prefix: prefix, timeout: 20))?.status == 0 ? prefix : nil
    }()
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func append(_ value: Data) { lock.lock(); data.append(value); lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// Builds an app-schema tickets database with chosen rows.
struct TicketRow {
    var id: Int64
    var ticketID: String
    var status = "received"
    var priority = "medium"
    var assignedTo: Int64? = 1
    var scheduledDate: String?
    var deletedAt: String?
    var machineID: Int64 = 1
}

func makeTicketsDatabase(at path: String, rows: [TicketRow]) throws {
    var statements = AppSchema.statements + AppSchema.indexes
    statements.append("INSERT INTO users (id, email, password_hash, full_name, role) VALUES (0, 'team@x', '!', '👥 Toute l''équipe', 'viewer')")
    statements.append("INSERT INTO users (id, email, password_hash, full_name, role) VALUES (1, 'marie@x', '!', 'Marie Tremblay', 'technician')")
    statements.append("INSERT INTO machines (id, machine_type, model) VALUES (1, 'Four', 'FT-2000')")
    func quoted(_ text: String?) -> String {
        text.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL"
    }
    for row in rows {
        statements.append("""
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to, scheduled_date, deleted_at)
            VALUES (\(row.id), \(quoted(row.ticketID)), 'Fuite d''huile', 'Vérifier', \(row.machineID), \(quoted(row.status)), \(quoted(row.priority)), 1,
                    \(row.assignedTo.map(String.init) ?? "NULL"), \(quoted(row.scheduledDate)), \(quoted(row.deletedAt)))
            """)
    }
    try sqlite3(path, statements.joined(separator: ";\n") + ";\n")
}

/// Tickets 1...count (`IGP-2026-0001`...), each overdue by the default rule of `configJSON` at
/// 2026-11-24T15:00:00Z.
func overdueRows(_ count: Int) -> [TicketRow] {
    (1...Int64(count)).map { TicketRow(id: $0, ticketID: "IGP-2026-" + CivilDate.padded($0, 4), scheduledDate: "2026-11-20 08:00:00") }
}

/// A tickets database of `count` overdue tickets and a config for it, after one `scan` at
/// 2026-11-24T15:00:00Z queued a notification of each (pending). Returns the config's path.
func queuedNotifications(in folder: TemporaryDirectory, tickets count: Int) throws -> String {
    try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: overdueRows(count))
    let config = try folder.write("config.json", configJSON())
    let scan = try runOverdued(["scan", "--config", config, "--now", "2026-11-24T15:00:00Z"])
    #expect(scan.status == 0, "stderr: \(scan.stderr)")
    return config
}

/// The `sqlite3` shell's output of one query (columns separated by `|`).
func sqlite3Output(_ path: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    // Like the app, wait for another connection's lock rather than fail at once (the shell's default).
    process.arguments = ["-cmd", ".timeout 30000", path, sql]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Runs SQL on a database with the `sqlite3` shell, as an operator or the app would.
func sqlite3(_ path: String, _ sql: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = ["-cmd", ".timeout 30000", path]
    let input = Pipe()
    process.standardInput = input
    try process.run()
    input.fileHandleForWriting.write(Data(sql.utf8))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "sqlite3 could not run: \(sql)")
}

/// A config JSON for a tickets database and one destination.
func configJSON(tickets: String = "tickets.sqlite", state: String = "state.sqlite", timezone: String = "America/Toronto",
                interval: String = "1s", rules: String? = nil, destinationURL: String = "http://127.0.0.1:9/hooks/secret-token",
                destinationExtra: String = "", busyTimeout: String = "1s") -> String {
    let defaultRules = """
        [{"name": "old-rule", "match": {"status_in": ["received", "diagnostic"], "assigned": true},
          "repeat": {"every": "24h"}, "destinations": ["hook"]}]
        """
    return """
        {
          "store": {"tickets_database": "\(tickets)", "state_database": "\(state)", "timezone": "\(timezone)", "busy_timeout": "\(busyTimeout)"},
          "schedule": {"interval": "\(interval)", "align": false},
          "rules": \(rules ?? defaultRules),
          "destinations": {"hook": {"url": "\(destinationURL)", "min_interval": "0ms", "concurrency": 4, "timeout": "2s",
                                    "retry": {"initial_backoff": "50ms", "max_backoff": "200ms"}\(destinationExtra)}},
          "log": {"level": "info", "target": "stderr"}
        }
        """
}

/// Whether this process may mount a tmpfs (root, outside a container without the capability):
/// the tests that need a full or read-only file system run only then, and say so otherwise.
enum Tmpfs {
    static let available: Bool = {
        guard getuid() == 0 else { return false }
        let probe = NSTemporaryDirectory() + "/overdued-tmpfs-probe-\(getpid())"
        defer { _ = umount(probe); try? FileManager.default.removeItem(atPath: probe) }
        return (try? mountTmpfs(at: probe, size: "64k")) == true
    }()
}

/// Mounts a tmpfs of `size` at `path` (created if missing); false where mounting is not
/// allowed (not root, or a container without the capability). Unmount with `umount(path)`.
func mountTmpfs(at path: String, size: String = "1m") throws -> Bool {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return try mount(["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
}

/// Fills the file system of `folder` with one file, `folder/filler`, until a write fails (no
/// space left); returns its path, to remove for the space to come back.
func fillFileSystem(at folder: String) throws -> String {
    let filler = folder + "/filler"
    guard FileManager.default.createFile(atPath: filler, contents: nil) else { throw CocoaError(.fileWriteNoPermission) }
    let handle = try #require(FileHandle(forWritingAtPath: filler))
    while (try? handle.write(contentsOf: Data(count: 4096))) != nil {}
    try? handle.close()
    return filler
}

/// `/bin/mount ARGUMENTS`; whether it succeeded.
func mount(_ arguments: [String]) throws -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/mount")
    process.arguments = arguments
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus == 0
}

/// A receiver written in a few lines of Python sockets, for what the Swift servers here do not
/// do (hold a request unanswered, answer slowly on its own thread per connection), run as a
/// child process. It prints `PORT n` first; `handler` defines `handle(c, head, body)`, called
/// on a thread of its own with each request's connection, head (text) and body (bytes), and
/// may print a line per event.
final class PythonReceiver {
    private let process = Process()
    private let output = LockedData()
    let port: Int

    /// Listens on 127.0.0.1, reads each request whole, and hands it to `handle`.
    private static let server = """
        import socket, sys, threading, time
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0)); s.listen(256)
        print("PORT", s.getsockname()[1], flush=True)
        def serve(c):
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                chunk = c.recv(65536)
                if not chunk: return
                data += chunk
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            head = head.decode("latin-1")
            length = [int(l.split(":", 1)[1]) for l in head.split("\\r\\n") if l.lower().startswith("content-length:")]
            while length and len(body) < length[0]:
                chunk = c.recv(65536)
                if not chunk: return
                body += chunk
            handle(c, head, body)
        def run():
            while True:
                c, _ = s.accept()
                threading.Thread(target=serve, args=(c,), daemon=True).start()

        """

    init(handler: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.server + handler + "\nrun()\n"]
        let pipe = Pipe()
        process.standardOutput = pipe
        let output = output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { output.append(data) }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        var port: Int?
        repeat {
            port = Self.lines(output).first { $0.hasPrefix("PORT ") }.flatMap { Int($0.dropFirst(5)) }
            if port == nil { usleep(10_000) }
        } while port == nil && Date() < deadline
        guard let port else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw POSIXError(.ETIMEDOUT)
        }
        self.port = port
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)   // SIGTERM may be blocked: children inherit the test process's mask
        process.waitUntilExit()
    }

    /// Every line printed so far.
    func received() -> [String] { Self.lines(output) }

    private static func lines(_ output: LockedData) -> [String] {
        String(decoding: output.get(), as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
