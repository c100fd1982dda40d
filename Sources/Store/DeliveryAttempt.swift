public import Foundation

/// One HTTP attempt at delivering a notification.
public struct DeliveryAttempt: Sendable, Equatable {
    public var notificationID: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var startedAt: Date
    public var durationMilliseconds: Int
    public var httpStatus: Int?
    public var error: String?
    /// The first 1 KB of the response body.
    public var responseBody: String?

    public init(notificationID: String, attempt: Int, startedAt: Date, durationMilliseconds: Int,
                httpStatus: Int? = nil, error: String? = nil, responseBody: String? = nil) {
        self.notificationID = notificationID
        self.attempt = attempt
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.httpStatus = httpStatus
        self.error = error
        self.responseBody = responseBody.map { String(decoding: $0.utf8.prefix(1024), as: UTF8.self) }
    }
}

/// What an attempt leads to.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Date)
    case dead(reason: String)
}

/// An attempt to record, with its verdict and when it was decided.
public struct RecordedAttempt: Sendable, Equatable {
    public var attempt: DeliveryAttempt
    public var outcome: DeliveryOutcome
    public var at: Date
    /// Not delivered, yet the receiver may have got it: the request had left when it timed
    /// out or its connection broke, without an answer. A notification withdrawn while it was
    /// under way then keeps its ticket notified, as a crash's unknown does.
    public var mayHaveArrived: Bool

    public init(attempt: DeliveryAttempt, outcome: DeliveryOutcome, at: Date, mayHaveArrived: Bool = false) {
        self.attempt = attempt
        self.outcome = outcome
        self.at = at
        self.mayHaveArrived = mayHaveArrived
    }
}

/// A request about to leave: written before it does, and removed with its attempt's record
/// (see migrations v10 and v11).
public struct StartedAttempt: Sendable, Equatable {
    public var notificationID: String
    public var attempt: Int
    public var startedAt: Date
    /// Where the request went: scheme, host and port (`DestinationSpec.redactedURL`), as a
    /// `ReceiverPause` keeps it. Nil for a mark an earlier release wrote (not known).
    public var receiver: String?

    public init(notificationID: String, attempt: Int, startedAt: Date, receiver: String? = nil) {
        self.notificationID = notificationID
        self.attempt = attempt
        self.startedAt = startedAt
        self.receiver = receiver
    }
}

/// The attempts of one notification that a process did not survive, in a row, and where
/// they went (scheme, host and port; nil when not known).
public struct InterruptionStreak: Sendable, Equatable {
    public var inARow: Int
    public var receiver: String?

    public init(inARow: Int, receiver: String?) {
        self.inARow = inARow
        self.receiver = receiver
    }
}

/// An attempt whose process ended before its answer was recorded, found by the next
/// deliverer (`Outbox.interruptedAttempts`).
public struct InterruptedAttempt: Sendable, Equatable {
    public var notification: OverdueNotification
    public var started: StartedAttempt
    /// Attempts of this notification interrupted in a row before this one.
    public var interruptedBefore: Int
    /// Where those went (`StartedAttempt.receiver`); nil when none, or not known.
    public var streakReceiver: String?

    public init(notification: OverdueNotification, started: StartedAttempt, interruptedBefore: Int, streakReceiver: String? = nil) {
        self.streakReceiver = streakReceiver
        self.notification = notification
        self.started = started
        self.interruptedBefore = interruptedBefore
    }
}
