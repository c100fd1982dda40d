import Foundation
internal import GRDB
internal import GRDBSQLite

/// `INSERT … VALUES (…), (…), …` for many rows: one statement per `rowsPerStatement` rows,
/// with the values bound straight through the SQLite API.
///
/// What a scan that enqueues ten thousand notifications paid per row before: SQLite's
/// per-statement work (starting and ending the statement, building the lookup table of the
/// `notification.status` CHECK constraint's `IN` list) and GRDB's general-purpose argument
/// handling (each value boxed, validated and bound through a chain of closures), together
/// more than writing the row itself. Rows go in their order, so an `ON CONFLICT` clause sees
/// the same sequence as one statement per row would. Runs inside the caller's transaction.
enum BulkInsert {
    static let rowsPerStatement = 100

    /// `head` is the `INSERT … (columns)` part, `row` the placeholders of one row, `tail` what
    /// follows the values (an upsert clause); `bind` binds one item's values in column order.
    /// `checkpoint`: reported to (and interruptible) before each statement, so that a long
    /// enqueue counts as progress and stops with the rest of a tick.
    static func run<Item>(_ db: Database, checkpoint: TickProgress? = nil, _ head: String, row: String, _ items: [Item],
                          then tail: String = "", bind: (Item, inout Parameters) -> Void) throws {
        let columns = row.utf8.count { $0 == UInt8(ascii: "?") }
        func sql(rows: Int) -> String {
            head + " VALUES " + repeatElement(row, count: rows).joined(separator: ", ") + " " + tail
        }
        let fullChunk = items.count >= rowsPerStatement ? sql(rows: rowsPerStatement) : ""
        var start = 0
        while start < items.count {
            try checkpoint?.checkpoint()
            let chunk = items[start..<min(start + rowsPerStatement, items.count)]
            // A full chunk has the same SQL every time: kept compiled, and so is a single row (a
            // caller going row by row). Another last, shorter one is not.
            // Statements made here are only ever run here, by `sqlite3_step`.
            let statement = chunk.count == rowsPerStatement ? try db.cachedStatement(sql: fullChunk)
                : chunk.count == 1 ? try db.cachedStatement(sql: sql(rows: 1)) : try db.makeStatement(sql: sql(rows: chunk.count))
            let handle = statement.sqliteStatement
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            var parameters = Parameters(statement: handle)
            for item in chunk { bind(item, &parameters) }
            guard parameters.next - 1 == chunk.count * columns, Int(sqlite3_bind_parameter_count(handle)) == chunk.count * columns else {
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "bound \(parameters.next - 1) values for \(chunk.count * columns) parameters", sql: head)
            }
            try parameters.check(sql: head)
            let code = sqlite3_step(handle)
            let message = code == SQLITE_DONE ? nil : String(cString: sqlite3_errmsg(sqlite3_db_handle(handle)))
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            if let message {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: head)
            }
            start += chunk.count
        }
    }

    /// The next parameters of a statement, bound in order. Strings and bytes are copied by
    /// SQLite (`SQLITE_TRANSIENT`): the statement never points into Swift memory.
    struct Parameters {
        fileprivate let statement: OpaquePointer
        fileprivate var next: Int32 = 1
        private var failure: Int32 = SQLITE_OK

        fileprivate init(statement: OpaquePointer) {
            self.statement = statement
        }

        mutating func text(_ value: String?) {
            guard var value else { return null() }
            value.withUTF8 { utf8 in bindText(UnsafeRawBufferPointer(utf8)) }
        }

        /// UTF-8 bytes bound as TEXT.
        mutating func text(utf8 bytes: Data) {
            bytes.withUnsafeBytes { bindText($0) }
        }

        mutating func integer(_ value: Int64?) {
            guard let value else { return null() }
            record(sqlite3_bind_int64(statement, next, value))
        }

        mutating func null() {
            record(sqlite3_bind_null(statement, next))
        }

        private mutating func bindText(_ utf8: UnsafeRawBufferPointer) {
            // An empty buffer may have no address, and a NULL pointer would bind NULL, not ''.
            let empty: StaticString = ""
            let start = utf8.isEmpty ? UnsafeRawPointer(empty.utf8Start) : utf8.baseAddress!
            record(sqlite3_bind_text(statement, next, start.assumingMemoryBound(to: CChar.self), Int32(utf8.count), SQLITE_TRANSIENT))
        }

        private mutating func record(_ code: Int32) {
            if code != SQLITE_OK && failure == SQLITE_OK { failure = code }
            next += 1
        }

        fileprivate func check(sql: String) throws {
            guard failure == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: failure), message: "cannot bind a value", sql: sql)
            }
        }
    }
}

/// `SQLITE_TRANSIENT`, which C defines as a macro the Swift importer does not see.
private let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
