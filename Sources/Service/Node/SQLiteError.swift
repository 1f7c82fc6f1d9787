import CSQLite

/// An SQLite result code (extended) with its message and the statement.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var sql: String?

    var isBusy: Bool { code & 0xFF == SQLITE_BUSY }

    static func mismatch(_ column: String, _ value: SQLiteValue?) -> SQLiteError {
        SQLiteError(code: SQLITE_MISMATCH, message: "column \(column) is \(value.map { "\($0)" } ?? "absent")", sql: nil)
    }

    var description: String {
        "SQLite error \(code): \(message)" + (sql.map { " (in \($0))" } ?? "")
    }
}
