import Foundation
import Logging
import Store
import OverduedConfig

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
    private let state = LockedState(Flights())
    private let clockSteps = LockedState(ClockSteps())
    /// How far the due times are still to move back after steps back, and whether a move is
    /// being written or the last one failed.
    private let moves = LockedState(DueTimeMoves())

    private struct DueTimeMoves {
        var back: TimeInterval = 0
        var inFlight = false
        var failing = false
    }
    /// The first "damaged" the state database answered (`noteDamage`).
    private let damage = LockedState<StoreError?>(nil)
    /// Whose workers to wake when a suspect's turn began or ended (`startRequest`).
    private let suspectTurnWaker = LockedState(SuspectTurnWaker())

    /// The notifier, by a weak reference: not a closure kept in the lock. A closure read back
    /// with `withLock { $0 }` is written back wrapped in two more thunks at each read
    /// (swiftlang/swift#91348, release builds too), growing the heap and the stack until it
    /// overflows (the daemon's `DeliveryPermit` had the same bug; a copy of this one, built
    /// with -O: 20,000 reads took 8.4 s, and crashed with 1 MB stacks before 40,000).
    private struct SuspectTurnWaker: Sendable {
        weak var notifier: Notifier?
    }

    /// The requests in flight, all destinations together.
    private struct Flights {
        var stopping = false
        var inFlight = 0
        var recording = 0
        /// A suspect is in flight (`startRequest`): nothing else starts until it has an answer.
        var suspectInFlight = false
        /// Suspects due and waiting for the requests in flight to end, with when each last
        /// asked: no other request starts meanwhile. One not asked again within
        /// `suspectWaitLapse` (its worker paused, stopped, or retired) holds nothing back.
        var waitingSuspects: [String: ContinuousClock.Instant] = [:]
    }

    /// How long a waiting suspect holds the others back without asking again; its worker asks
    /// at least every `DestinationWorker.longestSleep`.
    static let suspectWaitLapse: Duration = .seconds(10)

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

    /// Notes a failure of the state database; kept when it says the file is damaged
    /// ("database disk image is malformed"), which waiting does not heal.
    func noteDamage(_ error: StoreError) {
        guard error.kind == .corrupt else { return }
        damage.withLock { $0 = $0 ?? error }
    }

    /// Rules whose queued notifications are not started (`Notifier.hold(rules:)`).
    var heldRules: Set<String> { held.withLock { $0 } }
    private let held = LockedState<Set<String>>([])

    func hold(rules: Set<String>) {
        held.withLock { $0 = rules }
    }

    /// The first damage the state database answered with, or nil.
    var stateDatabaseDamage: StoreError? { damage.withLock { $0 } }

    /// One look at the wall and monotonic clocks (`ClockSteps`). Both are read, and a move of
    /// the due times enqueued, under the lock: two looks at once cannot both see the step (a
    /// look that read the clocks before it, taking the lock after one that read them after,
    /// saw a step forward as well and moved the due times twice), and a retry decided on the
    /// new clock after this look is recorded after the move.
    /// Returns whether a move of the due times was enqueued (await `recorder.written()` before
    /// reading them).
    @discardableResult
    func observeClock() -> Bool {
        clockSteps.withLock { steps in
            let wall = now()
            if let step = steps.observe(wall: wall, monotonic: ContinuousClock.now), step.by < 0 {
                moves.withLock { $0.back -= step.by }
            }
            return enqueueMoveIfDue(at: wall)
        }
    }

    /// The queued notifications due after now were given their times on the clock before the
    /// step (a retry's backoff, a `Retry-After`): they move back as much (never before now), or a
    /// 5 s backoff would wait out the whole step, an hour for an hour. Through the recorder's
    /// queue: the records decided before the look that saw the step are written before the
    /// move, and those decided after it (on the new clock) after it, unmoved. A move the state
    /// database refused is enqueued again at the next look (said once).
    private func enqueueMoveIfDue(at wall: Date) -> Bool {
        let back = moves.withLock { moves -> TimeInterval? in
            guard moves.back > 0, !moves.inFlight else { return nil }
            moves.inFlight = true
            defer { moves.back = 0 }
            return moves.back
        }
        guard let back else { return false }
        let logger = logger
        recorder.moveDueTimes(back: back, now: wall) { [self] result in
            let failedBefore = moves.withLock { moves -> Bool in
                moves.inFlight = false
                defer { moves.failing = (try? result.get()) == nil }
                if case .failure = result { moves.back += back }
                return moves.failing
            }
            switch result {
            case .success(let moved):
                logger.notice("the wall clock was set back by \(DurationText.format(.seconds(Int64(back.rounded())))): \(moved) queued notification(s) due later are due as much earlier (their times were read on the clock before the step)")
            case .failure(let error):
                noteDamage(error)
                if !failedBefore {
                    logger.warning("the wall clock was set back, and the queue's due times could not be moved back as much yet (tried again every second): \(error.description)")
                }
            }
        }
        return true
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

    /// Called (once) by the notifier: its workers are woken at each suspect's turn.
    func wakeAtSuspectTurns(_ notifier: Notifier) {
        suspectTurnWaker.withLock { $0.notifier = notifier }
    }

    /// Whether the request of notification `id` may start now; if so it is counted in flight
    /// (in the same step, so that two workers cannot both start into a suspect's turn).
    ///
    /// A suspect (a notification whose last attempt the process did not survive: an answer
    /// that crashes overdued, or an innocent one in flight beside it) goes alone, with nothing
    /// in flight to **any** destination: one that crashes the process again then does so alone,
    /// and the others cut off with it the first time, whatever their destination, get their
    /// answers instead of being counted (and given up, `InterruptedAttempts.maximumInARow`)
    /// with it. A due suspect waits for the requests in flight to end, and holds back new
    /// ones meanwhile.
    func startRequest(_ id: String, suspect: Bool) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { flights in
            if !flights.waitingSuspects.isEmpty {
                flights.waitingSuspects = flights.waitingSuspects.filter { now - $0.value < Self.suspectWaitLapse }
            }
            if suspect {
                guard !flights.suspectInFlight, flights.inFlight == 0 else {
                    flights.waitingSuspects[id] = now
                    return false
                }
                flights.waitingSuspects[id] = nil
                flights.suspectInFlight = true
            } else if flights.suspectInFlight || !flights.waitingSuspects.isEmpty {
                return false
            }
            flights.inFlight += 1
            return true
        }
    }

    /// A request started by `startRequest` ended (answered, failed, or cut off).
    func requestEnded(suspect: Bool) {
        let turn = state.withLock { flights -> Bool in
            flights.inFlight -= 1
            if suspect { flights.suspectInFlight = false }
            // The waiting suspect's turn now, or the others' again.
            return suspect || (flights.inFlight == 0 && !flights.waitingSuspects.isEmpty)
        }
        if turn, let notifier = suspectTurnWaker.withLock({ $0.notifier }) { notifier.wakeWorkers() }
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
    /// Names of destinations waiting past the drain's end after their answers crashed overdued.
    var pausedForCrashes: [String] = []

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
                      pausedByReceiver: left.pausedByReceiver + right.pausedByReceiver,
                      pausedForCrashes: left.pausedForCrashes + right.pausedForCrashes)
    }
}
