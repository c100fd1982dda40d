public import Foundation
public import Logging
public import OverduedConfig
public import Store
internal import TextEscaping

/// What `drain(until:)` did, for `overdued once`.
public struct DrainResult: Sendable, Equatable {
    /// Notifications delivered during the drain.
    public var delivered: Int
    /// Notifications still queued afterwards (pending or waiting for a retry), all destinations.
    public var retrying: Int
    /// Notifications given up during the drain.
    public var dead: Int
    /// HTTP attempts recorded during the drain.
    public var attempts: Int
    /// Attempts made that the state database refused to record to the end: their
    /// notifications stay queued and go again (same webhook-id).
    public var unrecorded: Int
    /// Why the queue could not be read, when that ended the drain.
    public var queueError: String?
    /// Why the attempts an earlier process cut off could not be recorded: then nothing was
    /// sent (see `Notifier.recordInterruptedAttempts`).
    public var recoveryError: String?
    /// Of `retrying`, those already due when the drain ended: its deadline came first
    /// (no request starts after it).
    public var dueLeft = 0
    /// Destinations whose receiver asked, with `Retry-After`, to wait past the drain's end.
    public var pausedByReceiver: [String] = []
    /// Destinations waiting past the drain's end because their answers crashed overdued
    /// (`InterruptedAttempts.destinationPause`).
    public var pausedForCrashes: [String] = []

    public init(delivered: Int, retrying: Int, dead: Int, attempts: Int, unrecorded: Int = 0, queueError: String? = nil) {
        self.delivered = delivered
        self.retrying = retrying
        self.dead = dead
        self.attempts = attempts
        self.unrecorded = unrecorded
        self.queueError = queueError
    }

    /// Whether the state database failed the drain: the queue could not be read, or
    /// attempts could not be recorded.
    public var stateDatabaseFailed: Bool { unrecorded > 0 || queueError != nil || recoveryError != nil }
}

/// What `send-test` reports.
public struct TestResult: Sendable, Equatable {
    /// The `webhook-id` of the test request.
    public var notificationID: String
    public var httpStatus: Int?
    public var latency: Duration
    /// Why there was no response (timeout, refused...), without the URL.
    public var error: String?
    /// The first KB of the response body.
    public var responseBody: String?

    /// 2xx.
    public var succeeded: Bool { httpStatus.map { (200..<300).contains($0) } ?? false }

    /// The first `limit` characters of the response body on one line, its control characters
    /// (line breaks, terminal escape sequences) written as escapes instead of acted on by the
    /// terminal the operator reads them in.
    public func printableResponse(limit: Int) -> String? {
        responseBody.map { PrintableText.escaped(String($0.prefix(limit))) }
    }
}

/// Delivers the outbox: one `DestinationWorker` per destination over one shared HTTP client.
///
/// It holds no delivery state of its own: what is due, retried or dead is in the outbox, so
/// a crash or restart resumes where the database says, sending anything not recorded as
/// delivered again under the same `webhook-id`.
///
/// Always end with `shutdown(grace:)`: it closes the HTTP client, which AsyncHTTPClient
/// requires before the client is released.
public final class Notifier: Sendable {
    let context: DeliveryContext
    private let onHeartbeat: @Sendable (Date) -> Void
    private let supervisorWake = WakeSignal()
    private let state: LockedState<State>

    private struct State {
        var destinations: [DestinationSpec]
        var workers: [String: DestinationWorker] = [:]
    }

    /// The longest time between two heartbeats, idle or not.
    public static let heartbeatInterval: Duration = .seconds(1)
    /// Between two tries to record the attempts an earlier process cut off, when the state
    /// database refused them.
    static let recoveryRetryInterval: Duration = .seconds(5)

    /// - Parameters:
    ///   - userAgentVersion: sent as `User-Agent: overdued/<version>`.
    ///   - now: the wall clock for payload times, due times and records; tests inject one.
    ///   - onHeartbeat: called by `run()` at least every `heartbeatInterval`, from the loop
    ///     that supervises the workers, so a hung notifier stops it (systemd watchdog gate).
    ///   - jitter: the retry backoff's random source (see `RetryPolicy`).
    ///   - mayDeliver: asked before each request (cheap; called often): false starts no
    ///     more (the daemon's delivery lock was lost to another process).
    public init(outbox: Outbox, destinations: [DestinationSpec], userAgentVersion: String, logger: Logger,
                now: @escaping @Sendable () -> Date = Date.init,
                onHeartbeat: @escaping @Sendable (Date) -> Void = { _ in },
                jitter: @escaping @Sendable (Duration) -> Duration = RetryPolicy.fullJitter,
                mayDeliver: @escaping @Sendable () -> Bool = { true }) {
        context = DeliveryContext(outbox: outbox, transport: WebhookTransport(), logger: logger,
                                  userAgentVersion: userAgentVersion, now: now, jitter: jitter, mayDeliver: mayDeliver)
        self.onHeartbeat = onHeartbeat
        state = LockedState(State(destinations: destinations))
        context.transport.use(destinations: destinations)
        context.wakeAtSuspectTurns(self)
    }

    public var destinations: [DestinationSpec] { state.withLock { $0.destinations } }

    /// The longest a paused destination takes to see that `overdued queue resume` removed its
    /// pause: it looks at every recheck interval, and sleeps at most as long between looks.
    public static var receiverPauseResumeDelay: Duration {
        DestinationWorker.pauseRecheckInterval + DestinationWorker.longestSleep
    }

    /// Destinations waiting now, with the end of their wait, by name: their receiver asked
    /// (`429`/`503` with `Retry-After`), or overdued made them wait after their answers
    /// crashed it (`crashingAnswers`).
    public var receiverPauses: [(destination: String, until: Date, crashingAnswers: Bool)] {
        state.withLock { Array($0.workers.values) }
            .compactMap { worker in
                worker.isRetiring ? nil : worker.pausedUntil.map { (worker.name, $0.until, $0.httpStatus == ReceiverPause.crashingAnswers) }
            }
            .sorted { $0.destination < $1.destination }
    }

    /// HTTP clients open besides the default one (tests: a reload closes those no destination
    /// uses any more).
    var openHTTPClients: Int { context.transport.openClientCount }

    /// Delivery attempts recorded since start: when it moves, the queue has changed.
    public var recordedAttempts: Int { context.recorder.committed }

    /// The damage the state database answered a record or a read of the queue with
    /// ("database disk image is malformed"): nothing can be recorded until the file is
    /// repaired, and waiting does not heal it. Nil while none was seen.
    public var stateDatabaseDamage: StoreError? { context.stateDatabaseDamage }

    /// Why no delivery starts, while `run()` holds them all back (for `STATUS=`); nil otherwise.
    public var deliveriesHeld: String? { held.withLock { $0 } }
    private let held = LockedState<String?>(nil)

    /// Delivers continuously until the task is cancelled or `shutdown` is called. Call once.
    public func run() async {
        // Discarding: a worker that ends (its destination was removed by a reload) is freed
        // at once instead of waiting, unawaited, for the daemon to stop.
        await withDiscardingTaskGroup { group in
            // The attempts an earlier process cut off are recorded before any worker starts;
            // meanwhile the loop beats (their write may wait for another process's lock).
            let recovered = LockedState(false)
            group.addTask {
                var failures = 0
                while !Task.isCancelled, !self.context.isStopping {
                    let interrupted = await self.recordInterruptedAttempts()
                    if let failure = interrupted.failure {
                        // Each try waits up to `busy_timeout` for the lock; the loop beats meanwhile.
                        // A damaged file does not heal: the daemon stops on it (`stateDatabaseDamage`).
                        self.context.noteDamage(failure)
                        failures += 1
                        self.held.withLock { $0 = "deliveries held: the attempts an earlier process cut off cannot be recorded yet" }
                        self.context.logger.error("cannot record the attempts an earlier overdued process did not live to record: \(failure); no delivery starts until they are (try \(failures), again in \(Self.recoveryRetryInterval))")
                        // In short steps: a stop meanwhile is not held back by the wait.
                        let end = ContinuousClock.now + Self.recoveryRetryInterval
                        while ContinuousClock.now < end, !Task.isCancelled, !self.context.isStopping {
                            try? await Task.sleep(for: .milliseconds(100))
                        }
                        continue
                    }
                    if failures > 0 { self.context.logger.notice("recorded the attempts an earlier overdued process did not live to record; deliveries start") }
                    self.held.withLock { $0 = nil }
                    recovered.withLock { $0 = true }
                    self.supervisorWake.signal()
                    return
                }
            }
            while !Task.isCancelled, !context.isStopping {
                for worker in recovered.withLock({ $0 }) ? reconcileWorkers() : [] {
                    group.addTask { await self.keepRunning(worker) }
                }
                onHeartbeat(context.now())
                context.observeClock()
                await supervisorWake.wait(upTo: Self.heartbeatInterval)
            }
            for worker in state.withLock({ Array($0.workers.values) }) { worker.wake() }
        }
    }

    /// Notifications a tick withdrew: none of them is started from what a worker has
    /// already read ahead.
    public func forget(withdrawn: [(id: String, destination: String)]) {
        guard !withdrawn.isEmpty else { return }
        let workers = state.withLock { $0.workers }
        for (destination, items) in Dictionary(grouping: withdrawn, by: \.destination) {
            workers[destination]?.forget(items.map(\.id))
        }
    }

    /// New notifications were enqueued: look at the queues now. Nonblocking.
    public func wake() {
        supervisorWake.signal()
        wakeWorkers()
    }

    /// Every destination's worker looks at its queue again.
    func wakeWorkers() {
        for worker in state.withLock({ Array($0.workers.values) }) { worker.wake() }
    }

    /// Holds the queued notifications of these rules (none: holds nothing): none of them is
    /// started, not even one already read ahead, until they are held no more. A reload that
    /// removes or changes a rule holds its queue until the tick after it has weighed it (and
    /// withdrawn what the rule no longer selects): sent meanwhile, a flood the reload was
    /// meant to stop went on for as long as that tick took.
    public func hold(rules: Set<String>) {
        guard rules != context.heldRules else { return }
        context.hold(rules: rules)
        wakeWorkers()
    }

    /// Swaps the destinations (config reload). Requests in flight finish with the settings
    /// they started with; removed destinations stop taking work and keep their queue; an HTTP
    /// client no destination needs any more is shut down once its requests have ended.
    public func update(destinations: [DestinationSpec]) {
        context.transport.use(destinations: destinations)
        state.withLock { state in
            state.destinations = destinations
            // A destination that stays takes its new settings now, not at the supervisor's
            // next turn: a request due right after the reload goes with them. New and removed
            // destinations are the supervisor's (it starts and retires workers).
            for spec in destinations {
                if let worker = state.workers[spec.name], !worker.isRetiring, worker.spec != spec { worker.update(spec) }
            }
        }
        supervisorWake.signal()
    }

    /// Sends everything due now, and the retries that fall due before `deadline`; returns
    /// when nothing more can be done before it. For `overdued once`; not while `run()` runs.
    public func drain(until deadline: Date) async -> DrainResult {
        let interrupted = await recordInterruptedAttempts()
        if let failure = interrupted.failure {
            // Nothing is sent: the request that ended the last process would go again uncounted.
            context.logger.error("cannot record the attempts an earlier overdued process did not live to record: \(failure); nothing is sent by this run")
            var result = DrainResult(delivered: 0, retrying: (try? context.outbox.backlog().depth) ?? 0, dead: 0, attempts: 0)
            result.recoveryError = failure.description
            return result
        }
        let workers = destinations.map { DestinationWorker(spec: $0, context: context) }
        // Known to the notifier while they run, so that `wake()` and a suspect's turn reach them.
        state.withLock { $0.workers = Dictionary(workers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }) }
        // On the monotonic clock from here: a step of the wall clock neither ends the drain
        // early nor holds it past its time.
        let limit = ContinuousClock.now + .milliseconds(Int64(max(0, deadline.timeIntervalSince(context.now())) * 1000))
        let tally = await withTaskGroup(of: DeliveryTally.self) { group in
            for worker in workers {
                group.addTask { await worker.run(until: limit) }
            }
            return await group.reduce(DeliveryTally(), +)
        }
        // A move of the due times after a step back, if one is waiting, is written before the
        // process ends.
        await context.recorder.written()
        state.withLock { $0.workers = [:] }
        var queued = 0, due = 0
        do {
            queued = try context.outbox.backlog().depth
            due = try context.outbox.dueCount(at: context.now())
        } catch {
            context.logger.error("cannot count the queue: \(error)")
        }
        var result = DrainResult(delivered: tally.delivered, retrying: queued, dead: tally.dead + interrupted.dead, attempts: tally.attempts + interrupted.recorded,
                                 unrecorded: tally.unrecorded, queueError: tally.queueError)
        result.dueLeft = due
        result.pausedByReceiver = tally.pausedByReceiver.sorted()
        result.pausedForCrashes = tally.pausedForCrashes.sorted()
        return result
    }

    /// No delivery starts from now on (requests in flight go on); `shutdown` then waits for
    /// them. Safe from any thread: a stop signal calls it at once.
    public func stopTakingWork() {
        context.stop()
        wake()
    }

    /// Stops taking work, lets requests in flight finish for up to `grace`, then cancels
    /// them, ends every wait for the state database's lock if any was still under way
    /// (`stopWaitingForLocks`), and closes the HTTP client. Whatever was not recorded as delivered stays queued.
    public func shutdown(grace: Duration) async {
        context.stop()
        wake()
        let end = ContinuousClock.now + grace
        while context.inFlight > 0, ContinuousClock.now < end {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let (left, recording) = (context.inFlight, context.recording)
        // The grace is over with work still under way: a record waiting for another process's
        // lock on the state database gives up now instead of after `busy_timeout`, each of
        // them in turn (the process is ending: the daemon's stop must fit systemd's
        // TimeoutStopSec). With nothing left, the caller may still write (`once` prunes).
        if left > 0 { context.outbox.database.stopWaitingForLocks() }
        if left > recording {
            context.logger.notice("cancelling \(left - recording) request(s) still in flight; they stay queued and go again (same webhook-id)")
        }
        if recording > 0 {
            context.logger.notice("\(recording) answered attempt(s) still wait for the state database (another process holds its lock); not recorded, their notifications go again (same webhook-id)")
        }
        await context.transport.shutdown()
    }

    /// POSTs a test payload with the destination's headers and signature (`"type":
    /// "overdued.test"`, or its template rendered with a test ticket: see
    /// `PayloadRenderer.testPayload`); records nothing in the outbox.
    public func sendTest(destination: DestinationSpec) async -> TestResult {
        let id = OverdueNotification.newID()
        let sentAt = PayloadTimestamp.requestInstant(context.now())
        let body: Data
        do {
            body = try PayloadRenderer.testPayload(format: destination.format, destination: destination.name, notificationID: id,
                                                   sentAt: sentAt)
        } catch {
            return TestResult(notificationID: id, httpStatus: nil, latency: .zero,
                              error: "nothing sent: the template cannot render the test ticket: \(error)", responseBody: nil)
        }
        let request = WebhookRequest(body: body, notificationID: id, timestamp: sentAt, destination: destination,
                                     userAgentVersion: context.userAgentVersion)
        let result = await context.transport.post(request, to: destination, onSent: {})
        return TestResult(notificationID: id, httpStatus: result.httpStatus, latency: result.duration,
                          error: result.error, responseBody: result.responseBody)
    }

    /// Starts workers for new destinations, updates changed ones, retires removed ones.
    /// Returns the workers to start.
    private func reconcileWorkers() -> [DestinationWorker] {
        state.withLock { state in
            var started: [DestinationWorker] = []
            let wanted = Dictionary(state.destinations.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            for (name, spec) in wanted {
                if let worker = state.workers[name] {
                    if worker.spec != spec || worker.isRetiring { worker.update(spec) }
                } else {
                    let worker = DestinationWorker(spec: spec, context: context)
                    state.workers[name] = worker
                    started.append(worker)
                }
            }
            for (name, worker) in state.workers where wanted[name] == nil && !worker.isRetiring {
                worker.retire()
            }
            return started
        }
    }

    /// Runs a worker until it is retired for good (a destination re-added while its old
    /// worker was winding down gets that same worker back).
    private func keepRunning(_ worker: DestinationWorker) async {
        while true {
            _ = await worker.run()
            if Task.isCancelled || context.isStopping { return }
            let removed = state.withLock { state in
                guard worker.isRetiring else { return false }
                state.workers[worker.name] = nil
                return true
            }
            if removed { return }
        }
    }
}
