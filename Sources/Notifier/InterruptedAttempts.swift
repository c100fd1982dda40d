import Dispatch
public import Foundation
import Logging
public import OverduedConfig
public import Store

/// The attempts an earlier process started and did not live to record (see migration v10):
/// each counts as a failed attempt, decided by the destination's retry policy like a
/// connection that failed, so that it goes again after a backoff, or is given up.
///
/// An answer that crashes overdued (a receiver's malformed status line has done so, inside the
/// HTTP client) would otherwise be sent again at every restart, as if never tried, and stop
/// every destination's deliveries with it. Counted, it comes back with a backoff; after
/// `maximumInARow` such attempts in a row it is given up (dead, `overdued queue retry` sends
/// it again), whatever `retry.max_attempts` says, since those default to no limit.
public enum InterruptedAttempts {
    /// Attempts in a row that the process did not survive, before the notification is given up.
    public static let maximumInARow = ReceiverPause.crashesBeforePause

    /// How long a destination waits after one of its notifications was given up so: its
    /// receiver's answers crash overdued, and each of its other notifications would crash it
    /// three times more (systemd gives up restarting after 5 starts in 2 minutes,
    /// `StartLimitBurst`), stopping every other destination's deliveries with it.
    public static let destinationPause: Duration = .seconds(3_600)

    /// Whether `interrupted` was cut off at the receiver `spec` points to now (scheme, host
    /// and port). A mark written by an earlier release does not say: taken as yes.
    static func atCurrentReceiver(_ interrupted: InterruptedAttempt, spec: DestinationSpec) -> Bool {
        interrupted.started.receiver.map { $0 == spec.redactedURL } ?? true
    }

    /// The attempts in a row that the process did not survive at the destination's current
    /// receiver, this one included: none when this one went to a receiver the destination no
    /// longer points to (its answers say nothing of the new one's), and the streak starts
    /// again when the ones before went elsewhere (crashes at X, then the destination pointed
    /// at Y: the first crash at Y is the first in a row).
    static func inARow(_ interrupted: InterruptedAttempt, spec: DestinationSpec) -> Int {
        guard atCurrentReceiver(interrupted, spec: spec) else { return 0 }
        if let before = interrupted.streakReceiver, let now = interrupted.started.receiver, before != now { return 1 }
        return interrupted.interruptedBefore + 1
    }

    /// Whether `interrupted`, recorded now, is given up by the rule of crashes in a row.
    static func givenUpForCrashes(_ interrupted: InterruptedAttempt, spec: DestinationSpec) -> Bool {
        inARow(interrupted, spec: spec) >= maximumInARow
    }

    /// What to record for each interrupted attempt, and how to tell it. Pure.
    /// - Parameter budget: the retry budget it spends (default: as kept in the state database;
    ///   the notifier's moves it past the clock steps it saw, `DeliveryContext.budget(of:)`).
    public static func decide(_ interrupted: InterruptedAttempt, spec: DestinationSpec, now: Date,
                              budget: RetryBudget? = nil,
                              jitter: @escaping @Sendable (Duration) -> Duration) -> RecordedAttempt {
        let started = interrupted.started
        var message = "no answer recorded: overdued ended during this attempt, started at "
            + "\(PayloadTimestamp.iso8601(started.startedAt)) (a crash, a kill, a power loss, or a stop before its answer could be recorded); whether the receiver got it is unknown"
        if let former = started.receiver, !atCurrentReceiver(interrupted, spec: spec) {
            message += " (it went to \(former), which this destination no longer points to)"
        }
        let failure = TransportFailure(.connection, message)
        var decision = RetryPolicy(spec: spec.retry, jitter: jitter)
            .decide(.failure(failure), attempt: started.attempt, budget: budget ?? RetryBudget(of: interrupted.notification), now: now)
        let inARow = inARow(interrupted, spec: spec)
        if givenUpForCrashes(interrupted, spec: spec), decision.verdict != .dead {
            decision = RetryDecision(.dead, reason: "\(failure.message); given up: overdued ended during \(inARow) attempts of it in a row "
                + "(an answer that crashes it?), so that the rest of the queue is delivered; `overdued queue retry "
                + "\(interrupted.notification.id)` sends it again")
        }
        let attempt = DeliveryAttempt(notificationID: started.notificationID, attempt: started.attempt, startedAt: started.startedAt,
                                      durationMilliseconds: 0, error: decision.reason)
        return RecordedAttempt(attempt: attempt, outcome: decision.outcome, at: now)
    }
}

extension Notifier {
    /// What `recordInterruptedAttempts` did.
    struct Recovery: Sendable {
        /// Attempts recorded, and how many of those were given up.
        var recorded = 0
        var dead = 0
        /// Why the state database did not take them (nothing recorded; the marks stay).
        var failure: StoreError?
    }

    /// Records the attempts an earlier process cut off (`InterruptedAttempts`), before any
    /// worker starts. A state database that cannot take them now (another process held its
    /// lock for all of `busy_timeout`, say) keeps their marks and says why: no worker may
    /// start before they are counted, or the request that crashed the last process would go
    /// again uncounted, with others beside it.
    func recordInterruptedAttempts() async -> Recovery {
        let context = self.context
        let specs = Dictionary(destinations.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let result: Result<[(InterruptedAttempt, RecordedAttempt)], StoreError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(StoreError) -> [(InterruptedAttempt, RecordedAttempt)] in
                    let found = try context.outbox.interruptedAttempts(destinations: Set(specs.keys))
                    let now = context.now()
                    let decided = found.compactMap { interrupted in
                        specs[interrupted.notification.destination].map {
                            (interrupted, InterruptedAttempts.decide(interrupted, spec: $0, now: now,
                                                                     budget: context.budget(of: interrupted.notification),
                                                                     jitter: context.jitter))
                        }
                    }
                    // Their other notifications would crash it again: the destination waits,
                    // recorded with the give-up (one transaction).
                    let pauses = decided.compactMap { (interrupted, recorded) -> ReceiverPause? in
                        guard let spec = specs[interrupted.notification.destination],
                              InterruptedAttempts.givenUpForCrashes(interrupted, spec: spec), case .dead = recorded.outcome else { return nil }
                        return ReceiverPause(destination: spec.name, until: now.addingTimeInterval(InterruptedAttempts.destinationPause.seconds),
                                             httpStatus: ReceiverPause.crashingAnswers, setAt: now, receiver: spec.redactedURL)
                    }
                    // Counted in a row only at the receiver each went to.
                    var streaks: [String: InterruptionStreak] = [:]
                    for (interrupted, _) in decided {
                        guard let spec = specs[interrupted.notification.destination] else { continue }
                        let inARow = InterruptedAttempts.inARow(interrupted, spec: spec)
                        if inARow > 0 {
                            streaks[interrupted.notification.id] = InterruptionStreak(inARow: inARow, receiver: interrupted.started.receiver)
                        }
                    }
                    try context.outbox.record(decided.map(\.1), interruptions: streaks, pausing: pauses)
                    return decided
                })
            }
        }
        switch result {
        case .failure(let error):
            return Recovery(failure: error)
        case .success(let decided):
            context.recorder.noteQueueChanged(by: decided.count)
            var dead = 0
            for (interrupted, recorded) in decided {
                let notification = interrupted.notification
                var logger = context.logger.forAttempt(interrupted.started.attempt, of: notification)
                let reason = recorded.attempt.error ?? ""
                if case .dead = recorded.outcome {
                    dead += 1
                    logger[metadataKey: "event"] = "dead"
                    logger.error("given up on \(notification.destination): \(reason)")
                } else {
                    logger[metadataKey: "event"] = "retry"
                    logger.warning("not delivered to \(notification.destination): \(reason)")
                }
            }
            return Recovery(recorded: decided.count, dead: dead)
        }
    }
}

extension Logger {
    /// The fields of one attempt's log lines (in the journal: DESTINATION, RULE, TICKET,
    /// TICKET_ID, NOTIFICATION_ID, ATTEMPT).
    func forAttempt(_ attempt: Int, of notification: OverdueNotification) -> Logger {
        var logger = self
        logger[metadataKey: "destination"] = "\(notification.destination)"
        logger[metadataKey: "rule"] = "\(notification.rule)"
        logger[metadataKey: "ticket"] = "\(notification.ticket)"
        logger[metadataKey: "ticket_id"] = "\(notification.ticketID)"
        logger[metadataKey: "notification_id"] = "\(notification.id)"
        logger[metadataKey: "attempt"] = "\(attempt)"
        return logger
    }
}
