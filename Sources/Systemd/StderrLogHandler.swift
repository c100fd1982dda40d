public import Foundation
public import Logging
import Synchronization
internal import TextEscaping

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A swift-log handler for a terminal, a pipe or a plain log file: one readable line per record,
///
///     2026-11-25T14:03:00.123Z warning overdued: message event=bad_row ticket=42 ticket_id=IGP-2026-0001
///
/// written with one `write(2)` so lines from several threads (or, below `PIPE_BUF`, several
/// processes) never interleave. When stderr is the journal, ``JournalLogHandler`` keeps the
/// metadata as fields instead.
public struct StderrLogHandler: LogHandler {
    /// The name after the level, as syslog would show it.
    public let identifier: String
    /// Where lines go; stderr unless a test passes a pipe.
    public let fileDescriptor: Int32
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(
        identifier: String = "overdued",
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil,
        fileDescriptor: Int32 = STDERR_FILENO
    ) {
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = StderrRecord.line(
            timestamp: StderrRecord.currentTime(),
            level: event.level,
            identifier: identifier,
            message: event.message.description,
            metadata: event.effectiveMetadata(handler: metadata, provider: metadataProvider)
        )
        StderrRecord.write(line, to: fileDescriptor)
    }
}

/// The stderr line format, apart from the writing so tests can check it exactly.
public enum StderrRecord {
    /// `TIME LEVEL IDENTIFIER: MESSAGE key=value …` with the time in UTC to the millisecond and
    /// the metadata sorted by key. A value that is empty or holds a space, `"`, `=` or a control
    /// character (`PrintableText.isControl`: bidirectional overrides too) is quoted with `\"`,
    /// `\\` and `PrintableText`'s escapes; control characters in the message are escaped too, so
    /// a record is always exactly one line and reads as written. An `=` in the message right
    /// after a character other than a space is written `\u{3D}`: the message quotes text from
    /// outside (a ticket's human id), and `IGP-1 rule=x` there must not read as a field of
    /// the record. No trailing newline.
    public static func line(
        timestamp: Date,
        level: Logger.Level,
        identifier: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line = iso8601(timestamp)
        line += " \(level.rawValue) \(identifier): "
        line += fieldSafe(PrintableText.escaped(message))
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            line += " " + keyText(key) + "=" + valueText(value.description)
        }
        return line
    }

    /// `2026-11-25T14:03:00.123Z`; computed with `gmtime_r` rather than a shared formatter so
    /// that logging from any thread needs no lock and no locale.
    public static func iso8601(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        let total = Int64(exactly: milliseconds) ?? 0
        var seconds = time_t(total.floorDivided(by: 1000))
        let millis = Int(total - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
            + ".\(pad(millis, 3))Z"
    }

    static func currentTime() -> Date { Date() }

    /// Writes `line` and a newline with one `write(2)`; a short write (a full pipe) is finished
    /// under the same lock, so another thread's record cannot land in the middle.
    static func write(_ line: String, to fileDescriptor: Int32) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        writeLock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let written = writeOnce(fileDescriptor, base + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return  // Nowhere left to report a failure to log.
                    }
                }
            }
        }
    }

    private static let writeLock = Mutex<Void>(())

    private static func pad(_ number: Int, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `text` with each `=` that follows a character other than a space as `\u{3D}`, so that
    /// nothing in a message reads as a `key=value` field; `a = b` stays as it is.
    private static func fieldSafe(_ text: String) -> String {
        guard text.contains("=") else { return text }
        var result = ""
        var previous: Character = " "
        for character in text {
            result += character == "=" && previous != " " ? "\\u{3D}" : String(character)
            previous = character
        }
        return result
    }

    private static func keyText(_ key: String) -> String {
        String(String.UnicodeScalarView(key.unicodeScalars.map { scalar in
            scalar == " " || scalar == "=" || PrintableText.isControl(scalar) ? "_" : scalar
        }))
    }

    private static func valueText(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains { scalar in
            scalar == " " || scalar == "\"" || scalar == "=" || PrintableText.isControl(scalar)
                || scalar.properties.isWhitespace
        }
        guard needsQuotes else { return value }
        var quoted = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            default: PrintableText.append(scalar, to: &quoted)
            }
        }
        return quoted + "\""
    }
}

/// `write(2)`, reachable under a name the static `write(_:to:)` above does not shadow.
private func writeOnce(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
