public import Foundation
internal import GRDB

/// Where a notification is in its life. Anything not `delivered` is sent again after a
/// crash, under the same id: at-least-once, never under two ids.
public enum NotificationStatus: String, Sendable, Equatable, CaseIterable, Codable {
    /// Enqueued, never tried.
    case pending
    /// Tried, failed, due again at `nextAttemptAt`.
    case retrying
    case delivered
    /// Given up: a permanent error (4xx) or retries exhausted. `queue retry` requeues it.
    case dead
    /// Never sent: while it was queued, its ticket stopped matching its rule (closed,
    /// rescheduled, reassigned, deleted). Ended, like delivered and dead.
    case withdrawn

    /// Still to be sent: pending or retrying.
    public var isQueued: Bool { self == .pending || self == .retrying }
}

/// One notification of one ticket by one rule to one destination, as the outbox holds it.
public struct OverdueNotification: Sendable, Equatable {
    /// Stable for the notification's life; sent as `webhook-id` on every attempt.
    public var id: String
    public var rule: String
    public var ticket: Int64
    public var ticketID: String
    public var destination: String
    /// What the payload is rendered from (JSON of the ticket as seen at enqueue time).
    public var snapshot: Data
    public var status: NotificationStatus
    public var createdAt: Date
    public var nextAttemptAt: Date
    public var attempts: Int
    public var lastHTTPStatus: Int?
    public var lastError: String?
    public var deliveredAt: Date?
    public var deadAt: Date?
    /// When it was withdrawn (see `NotificationStatus.withdrawn`).
    public var withdrawnAt: Date?
    /// When `overdued queue retry` last put it back after it was dead: its retry budget
    /// (`retry.max_attempts`, `give_up_after`) counts from then. Nil: never requeued.
    public var requeuedAt: Date?
    /// `attempts` when it was last requeued (0 when never): the attempts of the budgets spent.
    public var attemptsBeforeRequeue: Int
    /// Its last attempts in a row that the process did not live to answer (an answer that
    /// crashes overdued, or one in flight beside it); 0 once an attempt has an answer.
    public var interruptedAttempts: Int

    public init(id: String, rule: String, ticket: Int64, ticketID: String, destination: String, snapshot: Data,
                status: NotificationStatus = .pending, createdAt: Date, nextAttemptAt: Date? = nil, attempts: Int = 0,
                lastHTTPStatus: Int? = nil, lastError: String? = nil, deliveredAt: Date? = nil, deadAt: Date? = nil,
                requeuedAt: Date? = nil, attemptsBeforeRequeue: Int = 0, withdrawnAt: Date? = nil, interruptedAttempts: Int = 0) {
        self.id = id
        self.rule = rule
        self.ticket = ticket
        self.ticketID = ticketID
        self.destination = destination
        self.snapshot = snapshot
        self.status = status
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt ?? createdAt
        self.attempts = attempts
        self.lastHTTPStatus = lastHTTPStatus
        self.lastError = lastError
        self.deliveredAt = deliveredAt
        self.deadAt = deadAt
        self.requeuedAt = requeuedAt
        self.attemptsBeforeRequeue = attemptsBeforeRequeue
        self.withdrawnAt = withdrawnAt
        self.interruptedAttempts = interruptedAttempts
    }

    /// A new notification id: `msg_` and 32 random hex digits (the Standard Webhooks style).
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next(), generator.next())
        return String(unsafeUninitializedCapacity: 36) { bytes in
            let digits: StaticString = "0123456789abcdef"
            bytes[0] = UInt8(ascii: "m"); bytes[1] = UInt8(ascii: "s"); bytes[2] = UInt8(ascii: "g"); bytes[3] = UInt8(ascii: "_")
            for (start, word) in [(4, words.0), (20, words.1)] {
                var word = word
                for offset in 0..<16 {
                    bytes[start + offset] = digits.utf8Start[Int(word & 0xF)]
                    word >>= 4
                }
            }
            return 36
        }
    }
}

extension OverdueNotification {
    static func fetch(_ db: Database, where condition: String, _ arguments: [any DatabaseValueConvertible]) throws -> [OverdueNotification] {
        try Row.fetchAll(db, sql: """
            SELECT id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts,
                   last_http_status, last_error, delivered_at, dead_at, requeued_at, attempts_before_requeue, withdrawn_at,
                   interrupted_attempts
            FROM notification WHERE \(condition)
            """, arguments: StatementArguments(arguments)).map { row in
            OverdueNotification(
                id: row[0], rule: row[1], ticket: row[2], ticketID: row[3], destination: row[4],
                snapshot: Data((row[5] as String).utf8),
                status: NotificationStatus(rawValue: row[6]) ?? .pending,
                createdAt: Date(unixMilliseconds: row[7]), nextAttemptAt: Date(unixMilliseconds: row[8]),
                attempts: row[9], lastHTTPStatus: row[10], lastError: row[11],
                deliveredAt: (row[12] as Int64?).map(Date.init(unixMilliseconds:)),
                deadAt: (row[13] as Int64?).map(Date.init(unixMilliseconds:)),
                requeuedAt: (row[14] as Int64?).map(Date.init(unixMilliseconds:)), attemptsBeforeRequeue: row[15],
                withdrawnAt: (row[16] as Int64?).map(Date.init(unixMilliseconds:)),
                interruptedAttempts: row[17]
            )
        }
    }
}

extension Array where Element == Int64 {
    /// `[1,2,3]`: a list of ids bound as one argument and read with `json_each`, so one
    /// statement serves any number of ids.
    var jsonArray: String {
        var text = "["
        text.reserveCapacity(count * 8 + 2)
        for (index, id) in enumerated() {
            if index > 0 { text += "," }
            text += String(id)
        }
        return text + "]"
    }
}
