import Foundation
import Notifier
import Testing
import TestSupport

/// `overdued sink` through the real binary: an address it cannot use is refused in plain words.
@Suite struct SinkCommandTests {
    @Test func aPortOutOfRangeIsSaidToBe() throws {
        let result = try runOverdued(["sink", "--listen", "127.0.0.1:99999"], timeout: 20)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("Error: The value '127.0.0.1:99999' is invalid for '--listen <host:port>': the port 99999 is out of range"),
                "\(result.stderr)")
    }

    /// A signing secret file it cannot use is named, with why, in plain words (not
    /// Foundation's "The operation could not be completed").
    @Test func aSigningSecretFileItCannotUseIsNamed() throws {
        let folder = try TemporaryDirectory()
        let wrong = try folder.write("secret", "not a secret\n")
        let cases = [(folder.url("missing"), "cannot read --signing-secret-file \(folder.url("missing")): no such file"),
                     (folder.path, "cannot read --signing-secret-file \(folder.path): it is a directory, not a file"),
                     (wrong, "--signing-secret-file \(wrong): the signing secret is not \"whsec_\" followed by base64")]
        for (file, message) in cases {
            let result = try runOverdued(["sink", "--listen", "127.0.0.1:0", "--signing-secret-file", file], timeout: 20)
            #expect(result.status == 1 && result.stderr == message + "\n", "\(result.stderr)")
        }
    }

    /// A delivery the sink cannot show (stdout on a full disk) ends it with exit 1 and a line
    /// on stderr; it used to stop on Foundation's `try!` with a backtrace (SIGILL).
    @Test func aDeliveryItCannotShowEndsIt() throws {
        let (sink, errors, listening) = try Self.startSink(listen: "127.0.0.1:0",
                                                           output: try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full")))
        defer { if sink.isRunning { sink.terminate() } }
        var said = listening
        let port = try #require(said.split(separator: "127.0.0.1:").last?.prefix { $0.isNumber })
        let limits = try String(contentsOfFile: "/proc/\(sink.processIdentifier)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?.split(separator: " ")
        #expect(core?.dropFirst(4).first == "0", "no core file: \(core ?? [])")
        #expect(core?.dropFirst(5).first != "0", "the hard limit is left: \(core ?? [])")
        let post = Process()
        post.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        post.arguments = ["-s", "-o", "/dev/null", "-m", "10", "-H", "content-type: application/json", "-d", "{}", "http://127.0.0.1:\(port)/"]
        try post.run()
        post.waitUntilExit()
        let deadline = Date().addingTimeInterval(10)
        while sink.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!sink.isRunning && sink.terminationReason == .exit && sink.terminationStatus == 1)
        said += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(said.contains("overdued sink: cannot write a delivery to standard output: No space left on device; stopping"), "\(said)")
    }

    /// `overdued sink` until it listens, under a shell that allows core files (the process
    /// forbids its own: they would hold the secrets of the config). Returns what it said.
    static func startSink(listen: String, output: FileHandle) throws -> (Process, Pipe, String) {
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: "/bin/sh")
        sink.arguments = ["-c", "ulimit -S -c unlimited 2>/dev/null || ulimit -S -c 1024; exec \"$0\" \"$@\"", Binary.url.path,
                          "sink", "--listen", listen]
        sink.standardOutput = output
        let errors = Pipe()
        sink.standardError = errors
        try sink.run()
        var said = ""
        while !said.contains("; Ctrl-C to stop") {
            let more = errors.fileHandleForReading.availableData
            guard !more.isEmpty else {
                sink.terminate()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the sink ended before listening: \(said)"])
            }
            said += String(decoding: more, as: UTF8.self)
        }
        return (sink, errors, said)
    }

    /// Listening where other machines reach it is said before it starts: they see the
    /// payloads printed and get 200 for anything without a secret.
    /// Also: a SIGTERM sent as soon as the sink says it listens stops it (it came before the
    /// handlers, was ignored, and the sink ran on).
    @Test func aSinkOtherMachinesCanReachIsWarnedAbout() throws {
        let (sink, _, said) = try Self.startSink(listen: "0.0.0.0:0", output: FileHandle.nullDevice)
        #expect(Self.stops(sink))
        #expect(said.hasPrefix("warning: 0.0.0.0 is not a loopback address: other machines can reach this sink"), "\(said)")
        let (local, _, quiet) = try Self.startSink(listen: "127.0.0.1:0", output: FileHandle.nullDevice)
        #expect(Self.stops(local))
        #expect(!quiet.contains("warning"), "\(quiet)")
    }

    /// SIGTERM, then whether the process ended (cleanly) within 10 s; killed otherwise.
    static func stops(_ process: Process) -> Bool {
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return false
        }
        return process.terminationReason == .exit && process.terminationStatus == 0
    }

    @Test func aBusyPortIsSaidToBeInUse() async throws {
        let other = try WebhookSink(host: "127.0.0.1", port: 0) { _ in }
        let port = try await other.start()
        defer { Task { await other.stop() } }
        let result = try runOverdued(["sink", "--listen", "127.0.0.1:\(port)"], timeout: 20)
        #expect(result.status == 1)
        #expect(result.stderr == "cannot listen on 127.0.0.1:\(port): address already in use\n", "\(result.stderr)")
    }
}
