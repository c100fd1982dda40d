public import Foundation
internal import GRDB

/// A receiver's request to wait (a `429` or `503` with `Retry-After`), which pauses its whole
/// destination, as the state database keeps it: a restart (the daemon, the next `once`) must
/// not send into the same refusal, and `overdued queue` says why due notifications wait.
public struct ReceiverPause: Sendable, Equatable {
    public var destination: String
    /// When the receiver may be sent to again (wall clock).
    public var until: Date
    /// The status that asked to wait (429 or 503).
    public var httpStatus: Int
    /// When the answer came.
    public var setAt: Date
    /// Where the destination pointed: scheme, host and port only (`DestinationSpec.redactedURL`),
    /// never a path, query, userinfo or header value, which may hold secrets. A destination
    /// repointed since is not the receiver that asked.
    public var receiver: String

    /// `httpStatus` of a pause overdued set itself: the destination's answers crashed it
    /// (`InterruptedAttempts`), no receiver asked.
    public static let crashingAnswers = 0

    /// Why the destination waits, as `queue` and the log say it.
    public var cause: String {
        httpStatus == Self.crashingAnswers
            ? "its answers crashed overdued \(Self.crashesBeforePause) attempts in a row"
            : "HTTP \(httpStatus) with Retry-After"
    }

    /// The crashes in a row that give a notification up, and pause its destination.
    public static let crashesBeforePause = 3

    public init(destination: String, until: Date, httpStatus: Int, setAt: Date, receiver: String) {
        self.destination = destination
        self.until = until
        self.httpStatus = httpStatus
        self.setAt = setAt
        self.receiver = receiver
    }
}

extension Outbox {
    /// Writes the destination's pause. An earlier end than the one recorded for the same
    /// receiver is ignored: two requests in flight may both be refused, and their writes
    /// may arrive in either order.
    public func recordReceiverPause(_ pause: ReceiverPause) throws(StoreError) {
        try database.write("record the receiver's pause") { db in try Self.upsert(pause, db) }
    }

    static func upsert(_ pause: ReceiverPause, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO receiver_pause (destination, until_at, http_status, set_at, receiver) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (destination) DO UPDATE SET
                until_at = excluded.until_at, http_status = excluded.http_status, set_at = excluded.set_at, receiver = excluded.receiver
            WHERE excluded.until_at > receiver_pause.until_at OR excluded.receiver <> receiver_pause.receiver
            """, arguments: [pause.destination, pause.until.unixMilliseconds, pause.httpStatus,
                             pause.setAt.unixMilliseconds, pause.receiver])
    }

    /// The destination's recorded pause, ended or not.
    public func receiverPause(destination: String) throws(StoreError) -> ReceiverPause? {
        try database.read("read the receiver's pause") { db in
            try Row.fetchOne(db, sql: "\(Self.receiverPauseSelect) WHERE destination = ?", arguments: [destination]).map(Self.receiverPause)
        }
    }

    /// Every recorded pause, ended or not, by destination name.
    public func receiverPauses() throws(StoreError) -> [ReceiverPause] {
        try database.read("read the receivers' pauses") { db in try Self.receiverPauses(db) }
    }

    static func receiverPauses(_ db: Database) throws -> [ReceiverPause] {
        try Row.fetchAll(db, sql: "\(Self.receiverPauseSelect) ORDER BY destination").map(Self.receiverPause)
    }

    /// Removes the destination's pause if it ends at or before `until` (a later one was
    /// recorded since, by a request that was in flight: it stays); any pause when nil.
    public func removeReceiverPause(destination: String, endingBy until: Date? = nil) throws(StoreError) {
        try database.write("remove the receiver's pause") { db in
            try db.execute(sql: "DELETE FROM receiver_pause WHERE destination = ? AND until_at <= ?",
                           arguments: [destination, (until ?? .distantFuture).unixMilliseconds])
        }
    }

    /// A reload pointed the destination at another receiver (scheme, host or port): the wait
    /// its former receiver asked for is over (its row goes, unless a later pause replaced it),
    /// and so is the retry time of the notifications that receiver refused (last answer 429
    /// or 503): they are due now, for the new receiver, rather than after the old one's
    /// `Retry-After` (up to a day). Returns how many.
    public func endFormerReceiversPause(destination: String, endingBy until: Date, now: Date) throws(StoreError) -> Int {
        try database.write("end the former receiver's pause") { db in
            try db.execute(sql: "DELETE FROM receiver_pause WHERE destination = ? AND until_at <= ?",
                           arguments: [destination, until.unixMilliseconds])
            try db.execute(sql: """
                UPDATE notification SET next_attempt_at = ?
                WHERE destination = ? AND status IN ('pending', 'retrying') AND next_attempt_at > ? AND last_http_status IN (429, 503)
                """, arguments: [now.unixMilliseconds, destination, now.unixMilliseconds])
            return db.changesCount
        }
    }

    /// One refusal (429/503) of the former receiver recorded after the reload that pointed the
    /// destination elsewhere had made the others due (`endFormerReceiversPause`): this one is
    /// due now too. False when it is not queued with a later retry time.
    public func makeDueNow(notificationID: String, now: Date) throws(StoreError) -> Bool {
        try database.write("make the notification due") { db in
            try db.execute(sql: """
                UPDATE notification SET next_attempt_at = ?
                WHERE id = ? AND status IN ('pending', 'retrying') AND next_attempt_at > ?
                """, arguments: [now.unixMilliseconds, notificationID, now.unixMilliseconds])
            return db.changesCount > 0
        }
    }

    /// `overdued queue resume`: ends the destination's pause now, and makes its notifications
    /// that the receiver's refusal held (last answer 429 or 503, retried later) due now as
    /// well; returns how many. Other retries keep their backoff.
    public func resumeReceiver(destination: String, now: Date) throws(StoreError) -> Int {
        try database.write("end the receiver's pause") { db in
            try db.execute(sql: "DELETE FROM receiver_pause WHERE destination = ?", arguments: [destination])
            try db.execute(sql: """
                UPDATE notification SET next_attempt_at = ?
                WHERE destination = ? AND status IN ('pending', 'retrying') AND next_attempt_at > ? AND last_http_status IN (429, 503)
                """, arguments: [now.unixMilliseconds, destination, now.unixMilliseconds])
            return db.changesCount
        }
    }

    private static let receiverPauseSelect = "SELECT destination, until_at, http_status, set_at, receiver FROM receiver_pause"

    private static func receiverPause(_ row: Row) -> ReceiverPause {
        ReceiverPause(destination: row[0], until: Date(unixMilliseconds: row[1]), httpStatus: row[2],
                      setAt: Date(unixMilliseconds: row[3]), receiver: row[4])
    }
}
