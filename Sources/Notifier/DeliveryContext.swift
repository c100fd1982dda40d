import Foundation
import Logging
import Store

/// What every destination's worker shares: the outbox, the one HTTP client, the clock, and
/// the notifier-wide stop flag and in-flight count that `shutdown(grace:)` watches.
final class DeliveryContext: Sendable {
    let outbox: Outbox
    let transport: WebhookTransport
    let logger: Logger
    let userAgentVersion: String
    let now: @Sendable () -> Date
    let jitter: @Sendable (Duration) -> Duration
    let recorder: AttemptRecorder
    /// Asked before each request: whether this process still holds the right to deliver
    /// (the daemon's delivery lock). False stops the launches; the owner stops the rest.
    let mayDeliver: @Sendable () -> Bool
    private let state = LockedState((stopping: false, inFlight: 0, recording: 0))
    private let clockSteps = LockedState(ClockSteps())

    init(outbox: Outbox, transport: WebhookTransport, logger: Logger, userAgentVersion: String,
         now: @escaping @Sendable () -> Date, jitter: @escaping @Sendable (Duration) -> Duration,
         mayDeliver: @escaping @Sendable () -> Bool = { true }) {
        self.mayDeliver = mayDeliver
        self.outbox = outbox
        self.transport = transport
        self.logger = logger
        self.userAgentVersion = userAgentVersion
        self.now = now
        self.jitter = jitter
        recorder = AttemptRecorder(outbox: outbox)
    }

    /// One look at the wall and monotonic clocks (`ClockSteps`).
    func observeClock() {
        let wall = now()
        let monotonic = ContinuousClock.now
        clockSteps.withLock { $0.observe(wall: wall, monotonic: monotonic) }
    }

    /// The retry budget a notification is spending, moved forward by the wall clock's steps
    /// seen since it began: a clock set days ahead does not age it.
    func budget(of notification: OverdueNotification) -> RetryBudget {
        observeClock()
        var budget = RetryBudget(of: notification)
        budget.start.addTimeInterval(clockSteps.withLock { $0.shift(since: budget.start) })
        return budget
    }

    var isStopping: Bool { state.withLock { $0.stopping } }
    var inFlight: Int { state.withLock { $0.inFlight } }
    /// Of those in flight, the answered ones whose attempt waits for its record.
    var recording: Int { state.withLock { $0.recording } }

    func stop() {
        state.withLock { $0.stopping = true }
    }

    func requestStarted() {
        state.withLock { $0.inFlight += 1 }
    }

    func requestEnded() {
        state.withLock { $0.inFlight -= 1 }
    }

    func recordStarted() {
        state.withLock { $0.recording += 1 }
    }

    func recordEnded() {
        state.withLock { $0.recording -= 1 }
    }
}

/// How one drain or run went for one destination.
struct DeliveryTally: Sendable, Equatable {
    var delivered = 0
    var retried = 0
    var dead = 0
    var attempts = 0
    /// Attempts made but never recorded: the state database refused them to the end.
    var unrecorded = 0
    /// Why the queue could not be read, when that ended a drain.
    var queueError: String?
    /// Names of destinations whose receiver asked to wait (`Retry-After`) past the drain's end.
    var pausedByReceiver: [String] = []

    /// One recorded attempt.
    mutating func count(_ outcome: DeliveryOutcome) {
        switch outcome {
        case .delivered: delivered += 1
        case .retry: retried += 1
        case .dead: dead += 1
        }
        attempts += 1
    }

    static func + (left: DeliveryTally, right: DeliveryTally) -> DeliveryTally {
        DeliveryTally(delivered: left.delivered + right.delivered, retried: left.retried + right.retried,
                      dead: left.dead + right.dead, attempts: left.attempts + right.attempts,
                      unrecorded: left.unrecorded + right.unrecorded, queueError: left.queueError ?? right.queueError,
                      pausedByReceiver: left.pausedByReceiver + right.pausedByReceiver)
    }
}
