import Foundation
internal import GRDB
internal import GRDBSQLite

/// The current row of a statement that a GRDB cursor is stepping, read column by column
/// straight through the SQLite API, tolerant of the app's dirty data (the storage class a
/// column actually holds, whatever the schema says). No `DatabaseValue` is made per column,
/// and text is decoded once, from SQLite's own buffer: the tick reads every candidate row
/// this way.
struct StatementColumns {
    private let statement: OpaquePointer

    init(_ statement: Statement) {
        self.statement = statement.sqliteStatement
    }

    var count: Int32 { sqlite3_column_count(statement) }

    /// The column as text whatever its storage class; invalid UTF-8 is repaired (U+FFFD).
    func text(_ index: Int32) -> String? {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_NULL: return nil
        case SQLITE_INTEGER: return String(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return String(sqlite3_column_double(statement, index))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let bytes = sqlite3_column_blob(statement, index) else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
        default:
            // Text: the pointer first, then its length in bytes (SQLite's documented order).
            guard let bytes = sqlite3_column_text(statement, index) else { return "" }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, index))), as: UTF8.self)
        }
    }

    /// Whether the column is text that starts `YYYY-MM-DD` (`ScheduledDateText`), read in
    /// place.
    func isDateShapedText(_ index: Int32) -> Bool {
        guard sqlite3_column_type(statement, index) == SQLITE_TEXT, let bytes = sqlite3_column_text(statement, index) else {
            return false
        }
        return ScheduledDateText.isDateShaped(UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, index))))
    }

    /// The column as an integer, or nil when it is NULL or not a whole number.
    func integer(_ index: Int32) -> Int64? {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: sqlite3_column_int64(statement, index)
        case SQLITE_FLOAT: Int64(wholeNumber: sqlite3_column_double(statement, index))
        // A blob is read as its text, as every text column is: `X'37'` is 7.
        case SQLITE_TEXT, SQLITE_BLOB: text(index).flatMap { Int64(trimmedText: $0) }
        default: nil
        }
    }
}

private extension Int64 {
    /// A REAL that holds a whole number in range; nil otherwise.
    init?(wholeNumber value: Double) {
        guard value.rounded() == value, value.magnitude < 9e18 else { return nil }
        self.init(value)
    }

    /// An integer written as text, spaces around it allowed.
    init?(trimmedText text: String) {
        self.init(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
