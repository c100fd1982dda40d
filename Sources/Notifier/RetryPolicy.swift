public import Foundation
public import OverduedConfig
public import Store

/// What one attempt got back, as far as the retry decision is concerned.
public enum AttemptResult: Sendable, Equatable {
    case response(status: Int, retryAfter: String?)
    case failure(TransportFailure)
}

/// The verdict on one attempt, with the reason shown in logs and `overdued queue`.
public struct RetryDecision: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case delivered
        case retry(at: Date, after: Duration)
        case dead
    }

    public var verdict: Verdict
    public var reason: String

    public init(_ verdict: Verdict, reason: String) {
        self.verdict = verdict
        self.reason = reason
    }

    /// The outbox transition this decision asks for.
    public var outcome: DeliveryOutcome {
        switch verdict {
        case .delivered: .delivered
        case .retry(let at, _): .retry(at: at)
        case .dead: .dead(reason: reason)
        }
    }
}

/// What `retry.max_attempts`, `retry.give_up_after` and the backoff count from: when the
/// notification was queued, or when `overdued queue retry` last requeued it (a dead
/// notification requeued gets a fresh budget). Attempt numbers keep counting across a
/// requeue, so the history shows every attempt.
public struct RetryBudget: Sendable, Equatable {
    /// When the budget began: when the notification was queued, or requeued.
    public var start: Date
    /// Attempts made before it began (0 unless requeued).
    public var attemptsBefore: Int
    /// Whether it began at a requeue (the messages say "since it was requeued").
    public var isRequeue: Bool

    /// The budget of a notification never requeued.
    public init(queuedAt: Date) {
        start = queuedAt
        attemptsBefore = 0
        isRequeue = false
    }

    /// The budget the notification is spending now.
    public init(of notification: OverdueNotification) {
        start = notification.requeuedAt ?? notification.createdAt
        attemptsBefore = notification.requeuedAt == nil ? 0 : notification.attemptsBeforeRequeue
        isRequeue = notification.requeuedAt != nil
    }

    /// The number of `attempt` within this budget (1 for the first attempt after a requeue).
    func counted(_ attempt: Int) -> Int {
        max(1, attempt - attemptsBefore)
    }
}

/// Decides, from one attempt's result, whether a notification is delivered, tried again
/// later, or given up. Pure: the time and the random source are arguments.
///
/// - 2xx: delivered.
/// - 408, 429, 5xx, timeouts, connection errors: retry after exponential backoff with full
///   jitter (a random delay in `0...min(max_backoff, initial_backoff·2^(attempt-1))`), so that
///   many notifications failing together do not come back together; a `Retry-After` the
///   receiver sends wins over the backoff, clamped to 1 s – 24 h.
/// - Other 4xx and 3xx (redirects are not followed: a moved webhook is a config error): dead
///   at once, since the same request will be refused again.
/// - Dead as well when `retry.max_attempts` is reached, or when the next attempt would come
///   later than `give_up_after` after the notification was queued; both, and the backoff,
///   count from the last requeue of one that was dead (`RetryBudget`).
public struct RetryPolicy: Sendable {
    public var spec: RetrySpec
    /// Picks a delay in `0...ceiling`; injectable so tests can pin it.
    public var jitter: @Sendable (_ ceiling: Duration) -> Duration

    public static let minimumRetryAfter: TimeInterval = 1
    public static let maximumRetryAfter: TimeInterval = 86_400

    public init(spec: RetrySpec, jitter: @escaping @Sendable (_ ceiling: Duration) -> Duration = RetryPolicy.fullJitter) {
        self.spec = spec
        self.jitter = jitter
    }

    /// A uniformly random delay between zero and `ceiling`.
    public static let fullJitter: @Sendable (Duration) -> Duration = { ceiling in
        let seconds = ceiling.seconds
        guard seconds > 0 else { return .zero }
        return .milliseconds(Int64((Double.random(in: 0...seconds) * 1000).rounded()))
    }

    /// `min(max_backoff, initial_backoff · 2^(attempt-1))`: the upper bound of the jittered delay.
    public func backoffCeiling(attempt: Int) -> Duration {
        let exponent = Double(max(0, min(attempt - 1, 62)))
        let seconds = min(spec.maxBackoff.seconds, spec.initialBackoff.seconds * pow(2, exponent))
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// How long the whole destination waits after this answer: a `429 Too Many Requests` or
    /// `503 Service Unavailable` with `Retry-After` speaks for the receiver, not for one
    /// notification, so nothing more is sent to it until then (clamped like a retry's delay).
    /// Nil for any other answer.
    public static func destinationPause(after result: AttemptResult, now: Date) -> Duration? {
        guard case .response(let status, let header?) = result, status == 429 || status == 503,
              let asked = RetryAfter.delay(header, now: now) else { return nil }
        let clamped = min(max(asked, minimumRetryAfter), maximumRetryAfter)
        return .milliseconds(Int64((clamped * 1000).rounded()))
    }

    /// What a pause recorded in the state database (before a restart, or by another process)
    /// means for a destination that now points to `receiver`.
    public enum RecordedPause: Sendable, Equatable {
        /// Still in force: nothing is sent before `until`, `left` from `now`.
        case holds(until: Date, left: Duration)
        /// Its end has passed.
        case ended
        /// Asked by another receiver: the destination was repointed since.
        case otherReceiver
    }

    /// Whether a recorded pause still holds at `now`. The wall clock may have been set back
    /// since it was recorded: what is left is never longer than the receiver asked for when
    /// it answered, nor than the longest `Retry-After` honoured (`maximumRetryAfter`).
    public static func recordedPause(_ pause: ReceiverPause, receiver: String, now: Date) -> RecordedPause {
        guard pause.receiver == receiver else { return .otherReceiver }
        let asked = pause.until.timeIntervalSince(pause.setAt)
        let left = min(pause.until.timeIntervalSince(now), asked, maximumRetryAfter)
        guard left > 0 else { return .ended }
        return .holds(until: min(pause.until, now.addingTimeInterval(left)), left: .milliseconds(Int64((left * 1000).rounded())))
    }

    /// A wait a receiver asked for, as text: any number of seconds it can send (up to an
    /// infinity, for a long enough digit string), not only those a `Duration` holds.
    static func askedText(_ seconds: TimeInterval) -> String {
        let century: TimeInterval = 100 * 365 * 86_400
        return seconds < century ? DurationText.format(.seconds(seconds.rounded())) : "more than 100 years"
    }

    /// - Parameters:
    ///   - attempt: the attempt's number in the notification's life: 1 for the first attempt.
    ///   - budget: what `max_attempts`, `give_up_after` and the backoff count from.
    public func decide(_ result: AttemptResult, attempt: Int, budget: RetryBudget, now: Date) -> RetryDecision {
        let retryAfterHeader: String?
        let failure: String
        switch result {
        case .response(let status, let retryAfter):
            switch status {
            case 200..<300:
                return RetryDecision(.delivered, reason: "HTTP \(status)")
            case 408, 429, 500..<600:
                retryAfterHeader = retryAfter
                failure = "HTTP \(status)"
            case 410:
                return RetryDecision(.dead, reason: "HTTP 410 Gone: the receiver says this webhook no longer exists")
            case 304:
                return RetryDecision(.dead, reason: "HTTP 304: \"not modified\" is no answer to a POST; the receiver would answer it again")
            case 300..<400:
                return RetryDecision(.dead, reason: "HTTP \(status): redirects are not followed; configure the final URL")
            default:
                return RetryDecision(.dead, reason: "HTTP \(status): the receiver refuses this request; it would refuse it again")
            }
        case .failure(let transport):
            switch transport.kind {
            case .invalidRequest:
                return RetryDecision(.dead, reason: transport.message)
            case .cancelled, .localResources:
                return RetryDecision(.retry(at: now, after: .zero), reason: "\(transport.message); left in the queue")
            case .timeout, .connection:
                retryAfterHeader = nil
                failure = transport.message
            }
        }

        let counted = budget.counted(attempt)
        if let maximum = spec.maxAttempts, counted >= maximum {
            let since = budget.isRequeue ? " since it was requeued (\(attempt) in all)" : ""
            return RetryDecision(.dead, reason: "\(failure); gave up after \(counted) attempt(s)\(since) (retry.max_attempts = \(maximum))")
        }

        let delay: Duration
        let how: String
        if let header = retryAfterHeader, let asked = RetryAfter.delay(header, now: now) {
            let clamped = min(max(asked, Self.minimumRetryAfter), Self.maximumRetryAfter)
            delay = .milliseconds(Int64((clamped * 1000).rounded()))
            how = asked < Self.minimumRetryAfter
                ? "Retry-After asks for less than \(DurationText.format(.seconds(Self.minimumRetryAfter))), the least waited"
                : asked > Self.maximumRetryAfter
                    ? "Retry-After asks for \(Self.askedText(asked)), more than \(DurationText.format(.seconds(Self.maximumRetryAfter))), the most waited"
                    : "as Retry-After asks"
        } else {
            let ceiling = backoffCeiling(attempt: counted)
            delay = min(max(jitter(ceiling), .zero), ceiling)
            // An unreadable Retry-After is said (not quoted: a receiver echoing the request could
            // put the URL's token there, and this line goes to the journal).
            let unreadable = retryAfterHeader == nil ? "" : "; its Retry-After is neither seconds nor an HTTP date"
            how = "backoff up to \(DurationText.format(ceiling))\(unreadable)"
        }
        let next = now.addingTimeInterval(delay.seconds)
        let giveUpAt = budget.start.addingTimeInterval(spec.giveUpAfter.seconds)
        if next > giveUpAt {
            return RetryDecision(.dead, reason: "\(failure); gave up: the next attempt would be more than "
                                 + "\(DurationText.format(spec.giveUpAfter)) after it was \(budget.isRequeue ? "requeued" : "queued") (retry.give_up_after)")
        }
        return RetryDecision(.retry(at: next, after: delay),
                             reason: "\(failure); attempt \(attempt + 1) in \(DurationText.format(delay)) (\(how))")
    }
}
