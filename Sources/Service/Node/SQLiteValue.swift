/// A column's value as `StateDatabase` stores them.
enum SQLiteValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case text(String)
}
