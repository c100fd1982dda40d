public import Logging
internal import CSystemd

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A swift-log handler that writes each record to journald natively, so that metadata becomes
/// searchable fields (`journalctl EVENT=dead TICKET_ID=IGP-2026-0001`) instead of text in a
/// line, and the level becomes `PRIORITY`.
///
/// Use it when ``JournalStream/stderrIsJournal()`` is true or the config says `log.target:
/// journal`, and only when ``journalSocketExists(at:)``: without a journal socket journald's
/// client library drops records silently. On any other send failure the record is written to
/// stderr as a ``StderrLogHandler`` line so it is not lost.
public struct JournalLogHandler: LogHandler {
    /// Where journald takes native records: `sd_journal_sendv` writes there.
    public static let socketPath = "/run/systemd/journal/socket"

    /// Whether journald listens at `path` (a socket is there).
    public static func journalSocketExists(at path: String = socketPath) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK
    }

    /// `SYSLOG_IDENTIFIER`, what `journalctl -t` selects on.
    public let identifier: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(
        identifier: String = "overdued",
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = event.effectiveMetadata(handler: metadata, provider: metadataProvider)
        let fields = JournalRecord.fields(
            level: event.level,
            message: event.message.description,
            metadata: merged,
            identifier: identifier,
            file: event.file,
            function: event.function,
            line: event.line
        )
        if Self.send(fields) < 0 {
            let line = StderrRecord.line(
                timestamp: StderrRecord.currentTime(),
                level: event.level,
                identifier: identifier,
                message: event.message.description,
                metadata: merged
            )
            StderrRecord.write(line, to: STDERR_FILENO)
        }
    }

    /// Sends the fields in one `sd_journal_sendv` call (the C-variadic `sd_journal_send` cannot
    /// be called from Swift). All `NAME=value` entries live in one buffer that stays alive for
    /// the duration of the call; each iovec points at its slice. Returns sendv's result.
    static func send(_ fields: [JournalField]) -> Int32 {
        var buffer: [UInt8] = []
        var ranges: [Range<Int>] = []
        buffer.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + 1 + $1.value.count })
        for field in fields {
            let start = buffer.count
            buffer.append(contentsOf: field.name.utf8)
            buffer.append(UInt8(ascii: "="))
            buffer.append(contentsOf: field.value)
            ranges.append(start..<buffer.count)
        }
        return buffer.withUnsafeBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return 0 }
            let vectors = ranges.map { range in
                iovec(iov_base: UnsafeMutableRawPointer(mutating: base + range.lowerBound), iov_len: range.count)
            }
            return vectors.withUnsafeBufferPointer { iov in
                sd_journal_sendv(iov.baseAddress, Int32(iov.count))
            }
        }
    }
}
