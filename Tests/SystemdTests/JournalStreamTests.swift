import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct JournalStreamTests {
    @Test func parsesDeviceAndInode() {
        #expect(JournalStream(environmentValue: "8:12345") == JournalStream(device: 8, inode: 12345))
        #expect(JournalStream(environmentValue: "18446744073709551615:0") == JournalStream(device: .max, inode: 0))
    }

    @Test(arguments: ["", "8", "8:", ":1", "a:1", "8:1:2", " 8:1", "8:1\n", "-1:2", "+1:2", "0x8:1", "8:99999999999999999999999"])
    func rejectsAnythingElse(value: String) {
        #expect(JournalStream(environmentValue: value) == nil)
    }

    @Test func matchesOnlyTheFileItNames() throws {
        let named = try TemporaryFile()
        let other = try TemporaryFile()
        var status = stat()
        try #require(fstat(named.descriptor, &status) == 0)
        let value = "\(status.st_dev):\(status.st_ino)"

        #expect(JournalStream(fileDescriptor: named.descriptor) == JournalStream(environmentValue: value))
        #expect(JournalStream.isJournal(fileDescriptor: named.descriptor, journalStream: value))
        #expect(!JournalStream.isJournal(fileDescriptor: other.descriptor, journalStream: value))
        #expect(!JournalStream.isJournal(fileDescriptor: named.descriptor, journalStream: nil))
        #expect(!JournalStream.isJournal(fileDescriptor: named.descriptor, journalStream: "\(status.st_dev)"))
        #expect(!JournalStream.isJournal(fileDescriptor: -1, journalStream: value))
    }
}

/// `log.target: "journal"` falls back to stderr where journald has no socket: records sent
/// there would vanish.
struct JournalSocketTests {
    @Test func onlyASocketCounts() throws {
        let receiver = try DatagramReceiver()
        let file = try TemporaryFile()
        #expect(JournalLogHandler.journalSocketExists(at: receiver.path))
        #expect(!JournalLogHandler.journalSocketExists(at: file.path))
        #expect(!JournalLogHandler.journalSocketExists(at: file.path + ".missing"))
        #expect(JournalLogHandler.socketPath == "/run/systemd/journal/socket")
    }
}

extension ProcessEnvironment {
    @Suite struct JournalStreamEnvironmentTests {
        @Test func stderrIsJournalWhenTheVariableNamesFd2() throws {
            var status = stat()
            try #require(fstat(STDERR_FILENO, &status) == 0)
            withEnvironment(["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino)"]) {
                #expect(JournalStream.stderrIsJournal())
            }
            withEnvironment(["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino &+ 1)"]) {
                #expect(!JournalStream.stderrIsJournal())
            }
            withEnvironment(["JOURNAL_STREAM": nil]) {
                #expect(!JournalStream.stderrIsJournal())
            }
        }
    }
}
