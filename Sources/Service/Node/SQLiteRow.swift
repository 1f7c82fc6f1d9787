/// A row, by column name.
struct SQLiteRow {
    var values: [String: SQLiteValue] = [:]

    func text(_ column: String) throws(SQLiteError) -> String {
        guard case .text(let value)? = values[column] else { throw SQLiteError.mismatch(column, values[column]) }
        return value
    }

    func integer(_ column: String) throws(SQLiteError) -> Int {
        guard case .integer(let value)? = values[column] else { throw SQLiteError.mismatch(column, values[column]) }
        return Int(value)
    }
}
