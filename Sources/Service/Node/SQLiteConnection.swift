import CSQLite

/// One connection to an SQLite file, on SQLite's C API: statements prepared once
/// and kept, values bound by position, rows read by column name. Used by one
/// thread at a time: `StateDatabase` holds a lock around every use.
final class SQLiteConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating if needed) the file at `path`; ":memory:" for a database in memory.
    init(path: String) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let error = SQLiteError(code: status, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open", sql: nil)
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 5_000)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs one statement; its rows, if it returns any.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteRow] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, argument) in arguments.enumerated() {
            let position = Int32(index + 1)
            let status: Int32 =
                switch argument {
                case .null: sqlite3_bind_null(statement, position)
                case .integer(let value): sqlite3_bind_int64(statement, position, value)
                case .text(let value): sqlite3_bind_text(statement, position, value, -1, Self.transient)
                }
            guard status == SQLITE_OK else { throw error(status, sql) }
        }
        var rows: [SQLiteRow] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return rows }
            guard status == SQLITE_ROW else { throw error(status, sql) }
            var row = SQLiteRow()
            for column in 0..<sqlite3_column_count(statement) {
                // NULL only when SQLite is out of memory.
                guard let name = sqlite3_column_name(statement, column) else { throw error(SQLITE_NOMEM, sql) }
                row.values[String(cString: name)] =
                    switch sqlite3_column_type(statement, column) {
                    case SQLITE_NULL: .null
                    case SQLITE_INTEGER: .integer(sqlite3_column_int64(statement, column))
                    // Text, or what a hand-edited file holds instead (a real, a blob:
                    // an empty blob reads as NULL), as text.
                    default: .text(sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "")
                    }
            }
            rows.append(row)
        }
    }

    /// Runs `body` in one transaction (`BEGIN IMMEDIATE`: the write lock is taken
    /// first, so a commit never fails for a reader that came first); rolled back
    /// if `body` throws.
    func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    private func prepared(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw error(status, sql) }
        statements[sql] = statement
        return statement
    }

    private func error(_ status: Int32, _ sql: String) -> SQLiteError {
        SQLiteError(code: status, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// SQLite copies bound text (SQLITE_TRANSIENT, a macro Swift cannot import).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
