/// A text column of `tickets` whose values a rule lists (`status_in`, `priority_in`), and
/// whose distinct values `TicketsDatabase.valueCounts(of:)` reads.
public enum TicketColumn: String, Sendable, CaseIterable {
    case status, priority

    public var plural: String {
        switch self {
        case .status: "statuses"
        case .priority: "priorities"
        }
    }

    /// One distinct text value of the column and how many tickets hold it.
    public struct ValueCount: Sendable, Equatable {
        public var value: String
        public var tickets: Int

        public init(value: String, tickets: Int) {
            self.value = value
            self.tickets = tickets
        }
    }
}
