import Foundation
import Logging
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct StderrLogHandlerTests {
    /// 2026-11-25T14:03:00.123Z
    let sample = Date(timeIntervalSince1970: 1_795_615_380.123)

    @Test func theDocumentedLine() {
        let line = StderrRecord.line(
            timestamp: sample, level: .warning, identifier: "overdued", message: "message",
            metadata: ["ticket_id": "IGP-2026-0001", "event": "bad_row", "ticket": .stringConvertible(42)]
        )
        #expect(line == "2026-11-25T14:03:00.123Z warning overdued: message event=bad_row ticket=42 ticket_id=IGP-2026-0001")
    }

    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (-0.001, "1969-12-31T23:59:59.999Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
        (1_795_615_380.9996, "2026-11-25T14:03:01.000Z"),
    ])
    func timesAreUTCToTheMillisecond(seconds: Double, text: String) {
        #expect(StderrRecord.iso8601(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test func valuesThatNeedItAreQuoted() {
        let line = StderrRecord.line(
            timestamp: sample, level: .error, identifier: "overdued", message: "delivery failed",
            metadata: [
                "a_reason": "connection refused",
                "b_empty": "",
                "c_quote": "say \"hi\"",
                "d_equals": "x=1",
                "e_newline": "one\ntwo",
                "f_backslash": "C:\\path with space",
                "g_plain": "C:\\path",
            ]
        )
        #expect(line == #"2026-11-25T14:03:00.123Z error overdued: delivery failed a_reason="connection refused" b_empty="" c_quote="say \"hi\"" d_equals="x=1" e_newline="one\ntwo" f_backslash="C:\\path with space" g_plain=C:\path"#)
    }

    @Test func aRecordIsAlwaysOneLine() {
        let line = StderrRecord.line(
            timestamp: sample, level: .info, identifier: "overdued", message: "first\nsecond\r\tthird\u{1B}[0m",
            metadata: ["key with space": "v", "k=": "w"]
        )
        #expect(line == #"2026-11-25T14:03:00.123Z info overdued: first\nsecond\r\tthird\u{1B}[0m k_=w key_with_space=v"#)
        #expect(!line.contains("\n"))
    }

    /// A ticket id from the app is a metadata value: a bidirectional override or a C1 control
    /// in it is escaped as in the message, not written for the terminal to act on.
    @Test func aValueFromOutsideShowsItsControlsAsEscapes() {
        let line = StderrRecord.line(
            timestamp: sample, level: .warning, identifier: "overdued", message: "ticket 4 (AB\u{202E}CD)",
            metadata: ["ticket_id": "AB\u{202E}CD\u{85}E", "k\u{2066}": "x"]
        )
        #expect(line == #"2026-11-25T14:03:00.123Z warning overdued: ticket 4 (AB\u{202E}CD) k_=x ticket_id="AB\u{202E}CD\u{85}E""#)
    }

    /// A ticket's human id in the message cannot pass for a field of the record: what follows
    /// the message is the record's own `key=value` fields only.
    @Test func aMessageCannotForgeAField() {
        let line = StderrRecord.line(
            timestamp: sample, level: .info, identifier: "overdued", message: "enqueued IGP-1 rule=forged x=\"y z\" (#4); a = b",
            metadata: ["rule": "real"]
        )
        #expect(line == #"2026-11-25T14:03:00.123Z info overdued: enqueued IGP-1 rule\u{3D}forged x\u{3D}"y z" (#4); a = b rule=real"#)
        #expect(line.components(separatedBy: " rule=").count == 2, "\(line)")
    }

    @Test func theHandlerWritesOneLinePerRecordWithMergedMetadata() throws {
        let file = try TemporaryFile()
        var logger = Logger(label: "test") { _ in
            StderrLogHandler(
                logLevel: .debug,
                metadataProvider: Logger.MetadataProvider { ["a": "provider", "b": "provider"] },
                fileDescriptor: file.descriptor
            )
        }
        logger[metadataKey: "a"] = "handler"
        logger[metadataKey: "c"] = "handler"
        logger.debug("first", metadata: ["b": "explicit"])
        logger.trace("below the level")
        logger.error("second", error: Failure())
        let lines = try file.lines()
        try #require(lines.count == 2, "\(lines)")
        let stamp = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z /#
        #expect(lines.allSatisfy { $0.prefixMatch(of: stamp) != nil }, "\(lines)")
        #expect(lines[0].hasSuffix(" debug overdued: first a=provider b=explicit c=handler"), "\(lines[0])")
        #expect(lines[1].contains(" error overdued: second a=provider b=provider c=handler error.message="), "\(lines[1])")
        #expect(lines[1].hasSuffix("error.type=SystemdTests.Failure"), "\(lines[1])")
    }

    @Test func concurrentRecordsNeverInterleave() async throws {
        let file = try TemporaryFile()
        let payload = String(repeating: "x", count: 3_000)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let logger = Logger(label: "test") { _ in StderrLogHandler(fileDescriptor: file.descriptor) }
                    for record in 0..<50 {
                        logger.info("record", metadata: ["task": "\(task)", "n": "\(record)", "payload": "\(payload)"])
                    }
                }
            }
        }
        let lines = try file.lines()
        #expect(lines.count == 400)
        let shape = #/^\S+Z info overdued: record n=\d+ payload=x{3000} task=\d$/#
        #expect(lines.allSatisfy { $0.wholeMatch(of: shape) != nil })
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String { "boom" }
}

/// A file in the temporary directory, open for appending, removed when the value goes away.
final class TemporaryFile: Sendable {
    let path: String
    let descriptor: Int32

    init() throws {
        path = NSTemporaryDirectory() + "overdued-\(getpid())-\(UUID().uuidString)"
        descriptor = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemCallError(call: "open", code: errno) }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    func lines() throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }
}
