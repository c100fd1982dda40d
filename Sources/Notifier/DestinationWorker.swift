import Foundation
import Logging
import OverduedConfig
import Store

/// Delivers the queue of one destination: takes due notifications oldest first, keeps at
/// most `concurrency` in flight, spaces their starts by the rate limiter, and records every
/// attempt with the retry policy's verdict.
///
/// One worker per destination, so a destination that times out or answers 500 only delays
/// its own queue. Within a destination, a notification waiting for its retry is not "due"
/// and never holds back the ones behind it.
final class DestinationWorker: Sendable {
    let name: String
    private let context: DeliveryContext
    private let limiter: RateLimiter
    private let wakeSignal = WakeSignal()
    private let state: LockedState<State>

    private struct State {
        var spec: DestinationSpec
        var retiring = false
        var inFlight: Set<String> = []
        /// Notifications whose attempt could not be recorded: not retried at once, or a
        /// broken state database would turn into a request storm.
        var held: [String: Date] = [:]
    }

    /// How long to keep a notification aside after its attempt could not be recorded.
    static let holdAfterStoreError: TimeInterval = 30
    /// The longest sleep: notifications enqueued by another process (`overdued scan`,
    /// `queue retry`) do not call `wake()`, so the queue is looked at this often anyway.
    static let longestSleep: Duration = .seconds(5)

    init(spec: DestinationSpec, context: DeliveryContext) {
        name = spec.name
        self.context = context
        limiter = RateLimiter(minInterval: spec.minInterval)
        state = LockedState(State(spec: spec))
    }

    var spec: DestinationSpec { state.withLock { $0.spec } }

    /// A reload: the next requests use the new settings; requests in flight finish as they are.
    func update(_ spec: DestinationSpec) {
        state.withLock {
            $0.spec = spec
            $0.retiring = false
        }
        wake()
    }

    /// The destination left the config: stop taking work once the requests in flight end.
    /// Its queued notifications stay in the outbox.
    func retire() {
        state.withLock { $0.retiring = true }
        wake()
    }

    var isRetiring: Bool { state.withLock { $0.retiring } }

    func wake() {
        wakeSignal.signal()
    }

    /// Delivers until cancelled, stopped or retired; with a `deadline`, returns as soon as
    /// nothing is in flight and nothing is due before it.
    func run(until deadline: Date? = nil) async -> DeliveryTally {
        let tally = LockedState(DeliveryTally())
        // A discarding group: the worker runs for the daemon's life, and a plain task group
        // keeps every finished child task (its allocator slab, ~9 KB) until its result is
        // awaited, which this loop never does: memory grew with every delivery.
        await withDiscardingTaskGroup { group in
            // Due notifications read ahead, oldest first: one query serves several requests
            // instead of one query per completed request. They stay due (only this worker
            // delivers this destination), and a retry that comes due meanwhile waits at most
            // one batch.
            var readAhead: [OverdueNotification] = []
            loop: while !Task.isCancelled {
                if context.isStopping || isRetiring { break }
                let now = context.now()
                let (spec, inFlight, excluded) = state.withLock { state in
                    state.held = state.held.filter { $0.value > now }
                    return (state.spec, state.inFlight.count, state.inFlight.union(state.held.keys))
                }
                let free = spec.concurrency - inFlight
                var launched = 0
                if free > 0 {
                    if readAhead.isEmpty {
                        do {
                            readAhead = try context.outbox.due(destination: name, now: now, limit: max(free, Self.readAhead(spec)),
                                                               excluding: excluded)
                        } catch {
                            context.logger.error("cannot read the queue", metadata: ["destination": "\(name)", "error": "\(error)"])
                            await wakeSignal.wait(upTo: .seconds(1))
                            continue
                        }
                    }
                    let due = readAhead.prefix(free)
                    readAhead.removeFirst(due.count)
                    for notification in due {
                        guard let ticket = await limiter.acquire(minInterval: spec.minInterval) else { break loop }
                        if context.isStopping || isRetiring {
                            await limiter.finished(ticket: ticket, at: .now)
                            break loop
                        }
                        state.withLock { _ = $0.inFlight.insert(notification.id) }
                        context.requestStarted()
                        launched += 1
                        group.addTask {
                            let outcome = await self.deliver(notification, spec: spec, ticket: ticket)
                            self.state.withLock { _ = $0.inFlight.remove(notification.id) }
                            self.context.requestEnded()
                            tally.withLock { tally in
                                switch outcome {
                                case .delivered?: tally.delivered += 1
                                case .retry?: tally.retried += 1
                                case .dead?: tally.dead += 1
                                case nil: break
                                }
                                if outcome != nil { tally.attempts += 1 }
                            }
                            self.wake()
                        }
                    }
                }
                if launched > 0 { continue }

                let busy = state.withLock { $0.inFlight.count }
                var next: Date?
                if busy < spec.concurrency {
                    next = try? context.outbox.due(destination: name, now: .distantFuture, limit: 1, excluding: excluded).first?.nextAttemptAt
                }
                var wait = Self.longestSleep
                if let deadline {
                    if busy == 0, next.map({ $0 > deadline }) ?? true { break }
                    if busy == 0 { wait = min(wait, Self.duration(from: now, to: deadline)) }
                }
                if let next { wait = min(wait, Self.duration(from: now, to: next)) }
                await wakeSignal.wait(upTo: max(wait, .milliseconds(5)))
            }
            // Leaving: the group waits for the requests in flight.
        }
        return tally.withLock { $0 }
    }

    /// How many due notifications one queue read takes.
    static func readAhead(_ spec: DestinationSpec) -> Int {
        min(64, spec.concurrency * 4)
    }

    private static func duration(from start: Date, to end: Date) -> Duration {
        .milliseconds(Int64(max(0, end.timeIntervalSince(start)) * 1000))
    }

    private enum Outcome { case delivered, retry, dead }

    /// One attempt: render, POST, decide, record, log. Returns nil when nothing was recorded
    /// (cancelled by shutdown, or the state database failed): the notification stays due.
    private func deliver(_ notification: OverdueNotification, spec: DestinationSpec, ticket: Int) async -> Outcome? {
        let attempt = notification.attempts + 1
        let sentAt = context.now()
        var logger = context.logger
        logger[metadataKey: "destination"] = "\(spec.name)"
        logger[metadataKey: "rule"] = "\(notification.rule)"
        logger[metadataKey: "ticket"] = "\(notification.ticket)"
        logger[metadataKey: "ticket_id"] = "\(notification.ticketID)"
        logger[metadataKey: "notification_id"] = "\(notification.id)"
        logger[metadataKey: "attempt"] = "\(attempt)"

        let body: Data
        do {
            body = try PayloadRenderer.render(format: spec.format, snapshotJSON: notification.snapshot,
                                              notificationID: notification.id, sentAt: sentAt)
        } catch {
            await limiter.finished(ticket: ticket, at: .now)
            let record = DeliveryAttempt(notificationID: notification.id, attempt: attempt, startedAt: sentAt,
                                         durationMilliseconds: 0, error: error.message)
            guard await store(record, .dead(reason: error.message), logger: logger) else { return nil }
            logger[metadataKey: "event"] = "dead"
            logger.error("dead: cannot build the payload: \(error.message)")
            return .dead
        }

        let request = WebhookRequest(body: body, notificationID: notification.id, timestamp: sentAt,
                                     destination: spec, userAgentVersion: context.userAgentVersion)
        let limiter = self.limiter
        let result = await context.transport.post(request, to: spec, onSent: { limiter.markSent(ticket: ticket) })
        await limiter.finished(ticket: ticket, at: .now)

        logger[metadataKey: "duration_ms"] = "\(result.duration.milliseconds)"
        if let status = result.httpStatus { logger[metadataKey: "http_status"] = "\(status)" }
        if case .failure(let failure) = result.result, failure.kind == .cancelled || context.isStopping {
            // Whether the receiver got it is unknown: it stays queued and goes again, under
            // the same webhook-id, so a receiver that did get it can drop the duplicate.
            logger.notice("delivery interrupted by shutdown; the notification stays queued")
            return nil
        }

        let decision = RetryPolicy(spec: spec.retry, jitter: context.jitter)
            .decide(result.result, attempt: attempt, queuedAt: notification.createdAt, now: context.now())
        let record = DeliveryAttempt(notificationID: notification.id, attempt: attempt, startedAt: sentAt,
                                     durationMilliseconds: Int(result.duration.milliseconds), httpStatus: result.httpStatus,
                                     error: decision.verdict == .delivered ? nil : decision.reason,
                                     responseBody: result.responseBody)
        guard await store(record, decision.outcome, logger: logger) else { return nil }

        switch decision.verdict {
        case .delivered:
            logger[metadataKey: "event"] = "delivered"
            logger.info("delivered to \(spec.name) (\(spec.redactedURL)): \(decision.reason)")
            return .delivered
        case .retry:
            logger[metadataKey: "event"] = "retry"
            logger.warning("not delivered to \(spec.name) (\(spec.redactedURL)): \(decision.reason)")
            return .retry
        case .dead:
            logger[metadataKey: "event"] = "dead"
            logger.error("given up on \(spec.name) (\(spec.redactedURL)): \(decision.reason)")
            return .dead
        }
    }

    private func store(_ attempt: DeliveryAttempt, _ outcome: DeliveryOutcome, logger: Logger) async -> Bool {
        switch await context.recorder.record(attempt, outcome: outcome, at: context.now()) {
        case .success:
            return true
        case .failure(let error):
            let until = context.now().addingTimeInterval(Self.holdAfterStoreError)
            state.withLock { $0.held[attempt.notificationID] = until }
            logger.error("cannot record the delivery attempt; it will be sent again: \(error)")
            return false
        }
    }
}
