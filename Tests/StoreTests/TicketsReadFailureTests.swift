import GRDB
@testable import Store
import Testing

/// SQLite refuses to read a WAL-mode database whose -wal and -shm files are missing when the
/// reader may not create them, and words it "attempt to write a readonly database". overdued,
/// which never writes there, says what is needed instead. (`CheckConfigCommandTests` does it
/// for real, where the tests can be run without write access to a folder.)
struct TicketsReadFailureTests {
    static let path = "/var/lib/maintenance/tickets.sqlite"

    @Test(arguments: TicketsDatabase.walReaderRefusals.map(\.rawValue))
    func aWALReadRefusedAsAWriteIsExplained(_ code: Int32) {
        let refusal = DatabaseError(resultCode: ResultCode(rawValue: code), message: "attempt to write a readonly database")
        let error = TicketsDatabase.failure(refusal, path: Self.path, doing: "open the tickets database")
        #expect(error.path == Self.path)
        for phrase in ["could not open the tickets database: it is a WAL-mode database", "-wal", "-shm",
                       "may not write in /var/lib/maintenance", "docs/systemd.md"] {
            #expect(error.message.contains(phrase), "\(error.message)")
        }
        #expect(!error.message.contains("attempt to write"))
    }

    @Test func otherErrorsKeepSQLitesWords() {
        let write = DatabaseError(resultCode: .SQLITE_READONLY, message: "attempt to write a readonly database")
        #expect(TicketsDatabase.failure(write, path: Self.path, doing: "read").message == "could not read: attempt to write a readonly database")
        let busy = DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked")
        #expect(TicketsDatabase.failure(busy, path: Self.path, doing: "read tickets").kind == .busy)
    }
}
