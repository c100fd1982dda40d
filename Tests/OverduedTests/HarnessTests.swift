import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test harness's own promises, where a broken one would hide failures or leave
/// processes behind.
struct HarnessTests {
    /// A timed-out command run under a prefix that forks leaves no grandchild running.
    @Test func killTreeEndsTheGrandchildrenToo() throws {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        let pidFile = NSTemporaryDirectory() + "/overdued-harness-\(getpid()).pid"
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        shell.arguments = ["-c", "sleep 60 & echo $! > \(pidFile); wait"]
        try shell.run()
        let deadline = Date().addingTimeInterval(10)
        var grandchild: pid_t?
        while grandchild == nil, Date() < deadline {
            grandchild = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            usleep(10_000)
        }
        let sleeper = try #require(grandchild)
        killTree(shell.processIdentifier)
        var gone = false
        let until = Date().addingTimeInterval(5)
        // Reparented to init (or a subreaper) and reaped there: gone, or a zombie.
        while !gone, Date() < until {
            let state = (try? String(contentsOfFile: "/proc/\(sleeper)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
            gone = state == nil || state == "Z"
            if !gone { usleep(10_000) }
        }
        #expect(gone, "the grandchild \(sleeper) still runs")
        if !gone { kill(sleeper, SIGKILL) }
        shell.waitUntilExit()
    }

    /// The tests run the binary of their own build, beside them: there, not found elsewhere.
    @Test func theBinaryOfThisBuildIsThere() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Binary.url.path), "\(Binary.url.path)")
    }
}
