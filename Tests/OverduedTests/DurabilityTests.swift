import Foundation
import Store
import Testing
import TestSupport

/// Whether `strace` is installed and may trace a child here (ptrace allowed): the test that
/// watches which system calls come first runs only then, and says so otherwise.
enum Strace {
    static let path = "/usr/bin/strace"
    static let available: Bool = {
        guard FileManager.default.isExecutableFile(atPath: path) else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: path)
        probe.arguments = ["-o", "/dev/null", "/bin/true"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()
}

/// The state database commits most writes without waiting for the disk (`synchronous =
/// NORMAL`: an OS crash or a power cut can lose the last seconds of them, and a lost attempt
/// record only means the same request, same `webhook-id`, goes again). A notification's
/// enqueueing is the exception: lost after its request left, the next tick would queue the
/// ticket again under a new id, a duplicate no receiver can drop. So the log holding it is on
/// the disk before the first request leaves: seen here in the system calls themselves.
@Suite(.serialized) struct DurableEnqueueTests {
    @Test(.enabled(if: Strace.available, "needs strace, allowed to trace a child process"))
    func theQueueIsOnTheDiskBeforeItsFirstRequestLeaves() async throws {
        let setup = try await ReceivingSetup(interval: "1h")
        let (folder, sink, received, config) = (setup.folder, setup.sink, setup.received, setup.config)
        defer { Task { await sink.stop() } }
        // Created (and its creation synced) beforehand, and kept open so that its log stays:
        // what is traced is the run's own commits, not the syncs of a new log file.
        let keeper = try StateDatabase(path: folder.url("state.sqlite"))
        defer { withExtendedLifetime(keeper) {} }
        let trace = folder.url("trace.txt")
        let once = try runOverdued(["once", "--config", config, "--max-wait", "20s"],
                                   prefix: [Strace.path, "-f", "-y", "-s", "12", "-o", trace,
                                            "-e", "trace=fsync,fdatasync,write,writev,sendto,sendmsg"])
        #expect(once.status == 0, "stdout: \(once.stdout) stderr: \(once.stderr)")
        #expect(Set(received.all).count == 8, "every overdue ticket of the rows delivered: \(received.all)")
        let calls = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let firstRequest = try #require(calls.firstIndex { $0.contains("\"POST /hooks/") }, "no request in the trace:\n\(calls.joined(separator: "\n"))")
        let firstSync = calls.firstIndex { ($0.contains("fdatasync(") || $0.contains("fsync(")) && $0.contains("state.sqlite-wal>") }
        #expect(firstSync.map { $0 < firstRequest } == true,
                "the log was not synced before the first request left:\n\(calls.prefix(through: firstRequest).joined(separator: "\n"))")
    }
}
