#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The journal connection systemd names in `$JOURNAL_STREAM` (`DEVICE:INODE` of the socket it
/// attached to stdout/stderr).
///
/// The variable alone is not proof: it is inherited by children whose stderr was redirected
/// (`overdued scan 2>file` run from a unit's shell). Only when fd 2 is that very socket does
/// native journal logging replace the lines, as sd_journal_stream_fd(3) recommends.
public struct JournalStream: Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// Parses `DEVICE:INODE`, both decimal; nil for anything else.
    public init?(environmentValue value: String) {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
              parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }),
              let device = UInt64(parts[0]), let inode = UInt64(parts[1])
        else { return nil }
        self.init(device: device, inode: inode)
    }

    /// The device and inode of what `fileDescriptor` is open on; nil if `fstat` fails.
    public init?(fileDescriptor: Int32) {
        var status = stat()
        guard fstat(fileDescriptor, &status) == 0 else { return nil }
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Whether `fileDescriptor` is open on the file `journalStream` (a `$JOURNAL_STREAM` value)
    /// names.
    public static func isJournal(fileDescriptor: Int32, journalStream: String?) -> Bool {
        guard let journalStream, let expected = JournalStream(environmentValue: journalStream),
              let actual = JournalStream(fileDescriptor: fileDescriptor)
        else { return false }
        return expected == actual
    }

    /// Whether this process's stderr is the journal: what `log.target: auto` decides on.
    public static func stderrIsJournal() -> Bool {
        isJournal(fileDescriptor: STDERR_FILENO, journalStream: getenv("JOURNAL_STREAM").map { String(cString: $0) })
    }
}
