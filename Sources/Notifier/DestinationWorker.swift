import Dispatch
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
    /// Where this worker's state-database calls run: a thread of their own, not the
    /// cooperative pool. A write waits up to `store.busy_timeout` for a lock another process
    /// holds (an operator's `sqlite3`, `overdued scan`, a long tick's enqueue); on the pool,
    /// which has a thread per core, a few such waits would take every thread, and with them
    /// the notifier's heartbeat: the watchdog pings of a daemon that is only waiting stopped.
    private let stateQueue: DispatchQueue

    private struct State {
        var spec: DestinationSpec
        /// Counts reloads that changed `spec`: a request that waited for its slot across one
        /// is not sent with the settings its batch read before (old URL, old secret).
        var specGeneration = 0
        var retiring = false
        var inFlight: Set<String> = []
        /// Attempts made but not recorded (the state database refused the write), oldest
        /// first. They are recorded again before this destination sends anything new, and
        /// their notifications are not sent again: a broken or full state database must not
        /// make every notification go out again and again. Only a restart before they are
        /// recorded sends them again (same webhook-id).
        var unrecorded: [RecordedAttempt] = []
        /// Set by a 429 or 503 with `Retry-After` (or read from the state database at start):
        /// no request starts before its end.
        var pause: Pause?
        /// Whether the pause recorded in the state database was looked at (once, at start).
        var resumedRecordedPause = false
        /// The end of a pause that a reload cleared: its row is removed before the next request.
        var clearedPause: Date?
        /// Whether writing a pause's row failed already: said once, not at every answer.
        var pauseWriteFailed = false
        /// When the pause's row was last looked at.
        var pauseCheckedAt: ContinuousClock.Instant?
        /// Notifications a tick withdrew (their tickets stopped matching): not started if
        /// still read ahead.
        var withdrawn: Set<String> = []
        /// When a request finding no file descriptor left was last said.
        var outOfDescriptorsSaidAt: ContinuousClock.Instant?
    }

    /// How long a request's slot waits after this process had no file descriptor for it.
    static let descriptorWait: Duration = .seconds(1)
    /// How often the shortage is said while it lasts.
    static let descriptorShortageRepeat: Duration = .seconds(60)

    /// A receiver's request to wait.
    struct Pause: Equatable {
        /// On the monotonic clock, so that a clock set back does not stretch it.
        var until: ContinuousClock.Instant
        /// The same end on the wall clock, as shown.
        var shownUntil: Date
        var httpStatus: Int
        /// The end its row in the state database holds: later than `shownUntil` when the
        /// clock was set back since it was written. The row is removed up to it.
        var recordedUntil: Date
        /// Whether its row is known to be in the state database (read from it, or written):
        /// only then does a row gone mean that an operator ended it (`overdued queue resume`).
        var recorded = false
    }

    /// How often a paused destination looks whether its pause's row is still there.
    static let pauseRecheckInterval: Duration = .seconds(5)

    /// How often unrecorded attempts are tried again while the state database refuses them.
    static let recordRetryInterval: Duration = .seconds(2)
    /// The longest wait between two reads of a queue that could not be read.
    static let longestQueueRetry: Duration = .seconds(30)
    /// The longest sleep: notifications enqueued by another process (`overdued scan`,
    /// `queue retry`) do not call `wake()`, so the queue is looked at this often anyway.
    static let longestSleep: Duration = .seconds(5)

    init(spec: DestinationSpec, context: DeliveryContext) {
        name = spec.name
        self.context = context
        limiter = RateLimiter(minInterval: spec.minInterval)
        state = LockedState(State(spec: spec))
        stateQueue = DispatchQueue(label: "overdued.destination-state")
    }

    /// Runs `call` on the worker's state queue (see `stateQueue`) and waits for it without
    /// holding a thread of the pool.
    private func onStateQueue<T: Sendable>(_ call: @escaping @Sendable (Outbox) throws(StoreError) -> T) async throws(StoreError) -> T {
        let outbox = context.outbox
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, StoreError>, Never>) in
            stateQueue.async { continuation.resume(returning: Result { () throws(StoreError) -> T in try call(outbox) }) }
        }
        return try result.get()
    }

    var spec: DestinationSpec { state.withLock { $0.spec } }

    /// A reload: the next requests use the new settings; requests in flight finish as they are.
    func update(_ spec: DestinationSpec) {
        state.withLock {
            // A destination pointed elsewhere (another scheme, host or port) is not the receiver
            // that asked to wait; another timeout or header is, and it still asks.
            if $0.spec.redactedURL != spec.redactedURL, let pause = $0.pause {
                $0.pause = nil
                $0.clearedPause = max($0.clearedPause ?? pause.recordedUntil, pause.recordedUntil)
            }
            if $0.spec != spec { $0.specGeneration += 1 }
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

    /// Whether `once`'s deadline has come. On the monotonic clock: a wall clock set back an
    /// hour during `once --max-wait 60s` held the run for that hour.
    static func passed(_ deadline: ContinuousClock.Instant?) -> Bool {
        deadline.map { ContinuousClock.now >= $0 } ?? false
    }

    /// What is left until `deadline`, never negative.
    static func left(until deadline: ContinuousClock.Instant) -> Duration {
        max(.zero, deadline - ContinuousClock.now)
    }

    func wake() {
        wakeSignal.signal()
    }

    /// The receiver's pause in force, on the wall clock; nil when none.
    var pausedUntil: (until: Date, httpStatus: Int)? {
        state.withLock { state in
            state.pause.flatMap { ContinuousClock.now < $0.until ? ($0.shownUntil, $0.httpStatus) : nil }
        }
    }

    /// Notifications of this destination that a tick withdrew: one still read ahead is not
    /// started (the state database no longer lists it as due).
    func forget(_ ids: [String]) {
        state.withLock { $0.withdrawn.formUnion(ids) }
    }

    /// Delivers until cancelled, stopped or retired; with a `deadline`, returns as soon as
    /// nothing is in flight and nothing is due before it, and in any case starts no request
    /// after it but the first (the requests in flight then finish; the rest stays queued).
    func run(until deadline: ContinuousClock.Instant? = nil) async -> DeliveryTally {
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
            var readAt = ContinuousClock.now
            var queueFailures = 0
            // A deadline stops new requests once one has started: each destination with
            // something due makes at least one attempt, however short the deadline (or however
            // long a loaded machine took to get here).
            var startedOne = false
            await resumeRecordedPause()
            loop: while !Task.isCancelled {
                if context.isStopping || isRetiring || (startedOne && Self.passed(deadline)) { break }
                if state.withLock({ !$0.unrecorded.isEmpty }), !(await recordUnrecorded(into: tally)) {
                    if Self.passed(deadline) { break }
                    await wakeSignal.wait(upTo: Self.recordRetryInterval)
                    continue
                }
                let now = context.now()
                let (spec, generation, inFlight, excluded, pause, cleared) = state.withLock { state in
                    defer { state.clearedPause = nil }
                    return (state.spec, state.specGeneration, state.inFlight.count,
                            state.inFlight.union(state.unrecorded.map(\.attempt.notificationID)), state.pause, state.clearedPause)
                }
                if let cleared { await endFormerReceiversPause(endingBy: cleared, receiver: spec.redactedURL) }
                if let pause {
                    switch await waitOut(pause, inFlight: inFlight, now: now, deadline: deadline, tally: tally) {
                    case .over: break
                    case .lookAgain: continue loop
                    case .stop: break loop
                    }
                }
                let free = spec.concurrency - inFlight
                var launched = 0
                if free > 0 {
                    // Taken once: `forget` comes after the withdrawal's commit, so no later read
                    // of the queue returns them.
                    let withdrawn = state.withLock { state in
                        defer { state.withdrawn = [] }
                        return state.withdrawn
                    }
                    if !withdrawn.isEmpty { readAhead.removeAll { withdrawn.contains($0.id) } }
                    let held = context.heldRules
                    if !held.isEmpty { readAhead.removeAll { held.contains($0.rule) } }
                    if readAhead.isEmpty {
                        do throws(StoreError) {
                            let limit = max(free, Self.readAhead(spec))
                            readAhead = try await onStateQueue { [name] outbox throws(StoreError) in
                                try outbox.due(destination: name, now: now, limit: limit, excluding: excluded, skippingRules: held)
                            }
                            readAt = .now
                            if queueFailures > 0 {
                                context.logger.notice("the queue of \(name) can be read again", metadata: ["destination": "\(name)"])
                                queueFailures = 0
                            }
                        } catch {
                            context.noteDamage(error)
                            queueFailures += 1
                            // Once, then about every ten minutes: a damaged file does not heal.
                            if queueFailures == 1 || queueFailures % 20 == 0 {
                                context.logger.error("cannot read the queue of \(name): \(error)", metadata: ["destination": "\(name)"])
                            }
                            // `once`: a queue that cannot be read ends the drain; at once when
                            // the file is damaged, otherwise (locked, say) at the deadline.
                            if deadline != nil, error.kind == .corrupt || Self.passed(deadline) {
                                tally.withLock { $0.queueError = error.description }
                                break loop
                            }
                            await wakeSignal.wait(upTo: min(.seconds(1 << min(queueFailures - 1, 5)), Self.longestQueueRetry))
                            continue
                        }
                    }
                    let due = readAhead.prefix(free)
                    readAhead.removeFirst(due.count)
                    for (position, notification) in zip(due.indices, due) {
                        // The interval is read again while waiting: a reload may shorten it.
                        guard let ticket = await limiter.acquire(minInterval: { [state] in state.withLock { $0.spec.minInterval } }) else {
                            break loop
                        }
                        // Read a while ago (spacing, a wait for the limiter): a scan may have
                        // withdrawn it since, in this process or another. Asked once it is its
                        // turn; at full speed the read is too recent to need it. (Before the
                        // checks below: this read may wait for the state database's lock, and
                        // what they check may change meanwhile.)
                        if ContinuousClock.now - readAt > Self.recheckAfter, !(await stillQueued(notification.id)) {
                            await limiter.unused(ticket: ticket)
                            continue
                        }
                        // Held by a reload while it waited for its slot (`Notifier.hold`).
                        if context.heldRules.contains(notification.rule) {
                            await limiter.unused(ticket: ticket)
                            continue
                        }
                        // `once --max-wait`: nothing starts after the deadline, however much
                        // is still due (10,000 queued at 200 ms apart would take 33 minutes).
                        if context.isStopping || isRetiring || (startedOne && Self.passed(deadline)) || !context.mayDeliver() {
                            await limiter.finished(ticket: ticket, at: .now)
                            break loop
                        }
                        // The answer of a request started earlier in this batch (spaced by
                        // `min_interval`) may have asked to wait meanwhile: the rest of the batch
                        // waits with the others, uncounted, instead of going into the refusal.
                        // A reload changed the destination while this request waited for its
                        // slot: it goes with the new settings (URL, secret, format, headers,
                        // concurrency), not those its batch read before.
                        if state.withLock({ $0.pause.map { ContinuousClock.now < $0.until } ?? false || $0.specGeneration != generation }) {
                            await limiter.unused(ticket: ticket)
                            readAhead.insert(contentsOf: due[position...], at: 0)
                            continue loop
                        }
                        // A retry that a receiver's pause (or a stopped daemon) held back past
                        // `give_up_after`: the retry decision would have given it up had it known.
                        if let reason = Self.pastGiveUp(notification, budget: context.budget(of: notification), spec: spec, now: context.now()) {
                            await limiter.unused(ticket: ticket)
                            if await giveUp(notification, reason: reason) { tally.withLock { $0.dead += 1 } }   // no attempt made
                            continue
                        }
                        // A notification whose last attempt the process did not survive (in a
                        // row: `interruptedAttempts`, kept in the state database until an attempt
                        // has an answer) goes alone, with nothing in flight to any destination,
                        // and nothing starts while it waits for that or is in flight
                        // (`DeliveryContext.startRequest`). The one whose answer crashes overdued
                        // then ends the process alone, and the others cut off with it get their
                        // answers instead of being counted (and given up) with it.
                        let suspect = notification.interruptedAttempts > 0
                        guard context.startRequest(notification.id, suspect: suspect) else {
                            await limiter.unused(ticket: ticket)
                            readAhead.insert(contentsOf: due[position...], at: 0)
                            await wakeSignal.wait(upTo: Self.longestSleep)
                            continue loop
                        }
                        state.withLock { _ = $0.inFlight.insert(notification.id) }
                        launched += 1
                        startedOne = true
                        group.addTask {
                            let outcome = await self.deliver(notification, spec: spec, ticket: ticket)
                            self.state.withLock { _ = $0.inFlight.remove(notification.id) }
                            self.context.requestEnded(suspect: suspect)
                            if let outcome { tally.withLock { $0.count(outcome) } }
                            self.wake()
                        }
                    }
                }
                if launched > 0 { continue }
                if await !waitForNextDue(concurrency: spec.concurrency, excluding: excluded, now: now, deadline: deadline) { break }
            }
            // Leaving: the group waits for the requests in flight.
        }
        if state.withLock({ !$0.unrecorded.isEmpty }), !(await recordUnrecorded(into: tally)) {
            let left = state.withLock { $0.unrecorded.count }
            tally.withLock { $0.unrecorded = left }
            context.logger.error("\(left) delivery attempt(s) to \(name) could not be recorded in the state database; their notifications stay queued and go again (same webhook-id)",
                                 metadata: ["destination": "\(name)"])
        }
        return tally.withLock { $0 }
    }

    /// What the loop does about a receiver's pause.
    private enum PauseStep {
        /// The pause is over (its row removed): deliver.
        case over
        /// Waited part of it (or an operator ended it): look at the destination again.
        case lookAgain
        /// `once`: the pause outlasts the deadline, with nothing in flight; counted in `tally`.
        case stop
    }

    /// Waits out a receiver's pause, or part of it (at most `longestSleep`, a wake ends it
    /// sooner); the requests in flight finish meanwhile.
    private func waitOut(_ pause: Pause, inFlight: Int, now: Date, deadline: ContinuousClock.Instant?,
                         tally: LockedState<DeliveryTally>) async -> PauseStep {
        if ContinuousClock.now >= pause.until {
            // Over: its row goes too, unless a later pause replaced it meanwhile.
            let over = state.withLock { state -> Bool in
                guard state.pause == pause else { return false }
                state.pause = nil
                return true
            }
            if over { await removeRecordedPause(endingBy: pause.recordedUntil) }
            return .over
        }
        if await endedByOperator(pause) { return .lookAgain }
        let left = pause.until - ContinuousClock.now
        if let deadline, inFlight == 0, ContinuousClock.now + left > deadline {
            tally.withLock {
                if pause.httpStatus == ReceiverPause.crashingAnswers {
                    $0.pausedForCrashes.append(name)
                } else {
                    $0.pausedByReceiver.append(name)
                }
            }
            return .stop
        }
        var wait = min(left, Self.longestSleep)
        if let deadline { wait = min(wait, Self.left(until: deadline)) }
        await wakeSignal.wait(upTo: max(wait, .milliseconds(5)))
        return .lookAgain
    }

    /// Nothing was started: sleeps until the next notification falls due (at most
    /// `longestSleep`: another process may enqueue without waking this one), or a wake.
    /// False for `once` when nothing is in flight and nothing falls due before the deadline.
    private func waitForNextDue(concurrency: Int, excluding excluded: Set<String>, now: Date,
                                deadline: ContinuousClock.Instant?) async -> Bool {
        // A look at the clocks while idle (`once` has no heartbeat): a step back moves the due
        // times back before this wait is measured against them.
        if context.observeClock() { await context.recorder.written() }
        let busy = state.withLock { $0.inFlight.count }
        var next: Date?
        if busy < concurrency {
            let held = context.heldRules
            next = try? await onStateQueue { [name] outbox throws(StoreError) in
                try outbox.due(destination: name, now: .distantFuture, limit: 1, excluding: excluded, skippingRules: held).first?.nextAttemptAt
            }
        }
        var wait = Self.longestSleep
        if let deadline {
            if busy == 0, next.map({ $0.timeIntervalSince(now) > Self.left(until: deadline).seconds }) ?? true { return false }
            if busy == 0 { wait = min(wait, Self.left(until: deadline)) }
        }
        if let next { wait = min(wait, Self.duration(from: now, to: next)) }
        await wakeSignal.wait(upTo: max(wait, .milliseconds(5)))
        return true
    }

    /// Sets the pause unless a later one holds, or the destination was pointed at another
    /// receiver (a reload) since `receiver` asked: the new one did not ask. Whether it was set.
    private func pauseFor(_ pause: Pause, askedBy receiver: String) -> Bool {
        state.withLock { state -> Bool in
            guard state.spec.redactedURL == receiver else { return false }
            guard state.pause.map({ pause.until > $0.until }) ?? true else { return false }
            state.pause = pause
            return true
        }
    }

    /// At start: a pause the receiver asked for before a restart (or of another `once`)
    /// holds still if it has not ended and the destination points to the same receiver;
    /// otherwise its row goes. A state database that cannot say sends as usual.
    private func resumeRecordedPause() async {
        guard state.withLock({ state in defer { state.resumedRecordedPause = true }; return !state.resumedRecordedPause }) else { return }
        let recorded: ReceiverPause?
        do throws(StoreError) {
            recorded = try await onStateQueue { [name] outbox throws(StoreError) in try outbox.receiverPause(destination: name) }
        } catch {
            context.logger.warning("cannot read whether the receiver of \(name) asked to wait: \(error); sending as if not",
                                   metadata: ["destination": "\(name)"])
            return
        }
        guard let recorded else { return }
        let receiver = spec.redactedURL
        switch RetryPolicy.recordedPause(recorded, receiver: receiver, now: context.now()) {
        case .holds(let until, let left):
            if pauseFor(Pause(until: .now + left, shownUntil: until, httpStatus: recorded.httpStatus, recordedUntil: recorded.until, recorded: true),
                        askedBy: receiver) {
                let asked = recorded.httpStatus == ReceiverPause.crashingAnswers ? "waits" : "asked to wait"
                context.logger.notice("\(name) \(asked) (\(recorded.cause) at \(PayloadTimestamp.iso8601(recorded.setAt))): nothing is sent to it until \(PayloadTimestamp.iso8601(until)), or `overdued queue resume \(name)`",
                                      metadata: ["destination": "\(name)"])
            }
        case .ended:
            await removeRecordedPause(endingBy: recorded.until)
        case .otherReceiver:
            context.logger.notice("\(name) now points to \(receiver): the wait its former receiver \(recorded.receiver) asked for does not apply",
                                  metadata: ["destination": "\(name)"])
            await removeRecordedPause(endingBy: recorded.until)
        }
    }

    /// A reload pointed the destination elsewhere while its receiver's pause held: the pause's
    /// row goes, and the notifications that receiver refused are due now (said in the log).
    private func endFormerReceiversPause(endingBy until: Date, receiver: String) async {
        let now = context.now()
        let due = LockedState(0)
        let written = await recordPause { [name] outbox throws(StoreError) in
            let count = try outbox.endFormerReceiversPause(destination: name, endingBy: until, now: now)
            due.withLock { $0 = count }
        }
        guard written else { return }
        context.logger.notice("\(name) now points to \(receiver): the wait its former receiver asked for no longer applies; \(due.withLock { $0 }) notification(s) it refused are due now",
                              metadata: ["destination": "\(name)"])
    }

    /// Removes the pause's row from the state database (see `recordPause`).
    private func removeRecordedPause(endingBy until: Date) async {
        await recordPause { [name] outbox throws(StoreError) in try outbox.removeReceiverPause(destination: name, endingBy: until) }
    }

    /// Writes or removes a pause's row. A failure stops nothing: the pause holds in memory
    /// (only a restart forgets it), and it is said once, not at every answer.
    @discardableResult
    private func recordPause(_ write: @escaping @Sendable (Outbox) throws(StoreError) -> Void) async -> Bool {
        do throws(StoreError) {
            try await onStateQueue(write)
            return true
        } catch {
            let first = state.withLock { state in
                defer { state.pauseWriteFailed = true }
                return !state.pauseWriteFailed
            }
            if first {
                context.logger.error("the state database cannot keep the wait the receiver of \(name) asked for: \(error); the wait holds in memory (a restart forgets it), deliveries go on",
                                     metadata: ["destination": "\(name)"])
            }
            return false
        }
    }

    /// Whether an operator ended the pause (`overdued queue resume` removed its row): looked
    /// at every `pauseRecheckInterval` while paused, for a pause whose row was there. Ends it
    /// here too when so.
    private func endedByOperator(_ pause: Pause) async -> Bool {
        guard pause.recorded else { return false }
        let due = state.withLock { state -> Bool in
            guard state.pauseCheckedAt.map({ ContinuousClock.now - $0 >= Self.pauseRecheckInterval }) ?? true else { return false }
            state.pauseCheckedAt = .now
            return true
        }
        guard due else { return false }
        let row: ReceiverPause?
        do throws(StoreError) {
            row = try await onStateQueue { [name] outbox throws(StoreError) in try outbox.receiverPause(destination: name) }
        } catch {
            return false  // the state database cannot say: the pause holds
        }
        guard row == nil else { return false }
        let ended = state.withLock { state -> Bool in
            guard state.pause == pause else { return false }
            state.pause = nil
            return true
        }
        if ended {
            let wait = pause.httpStatus == ReceiverPause.crashingAnswers ? "the wait after its answers crashed overdued" : "the wait its receiver asked for"
            context.logger.notice("\(name): \(wait) (until \(PayloadTimestamp.iso8601(pause.shownUntil))) was ended by `overdued queue resume`; sending again",
                                  metadata: ["destination": "\(name)"])
        }
        return ended
    }

    /// Records the attempts the state database refused before, oldest first, and counts them;
    /// true when none is left.
    private func recordUnrecorded(into tally: LockedState<DeliveryTally>) async -> Bool {
        let pending = state.withLock { $0.unrecorded }
        var recorded = 0
        for entry in pending {
            guard case .success = await context.recorder.record(entry.attempt, outcome: entry.outcome, at: entry.at,
                                                                mayHaveArrived: entry.mayHaveArrived) else { break }
            recorded += 1
            tally.withLock { $0.count(entry.outcome) }
        }
        let left = state.withLock { state -> Int in
            state.unrecorded.removeFirst(recorded)
            return state.unrecorded.count
        }
        if recorded > 0, left == 0 {
            context.logger.notice("recorded \(recorded) delivery attempt(s) that the state database had refused; \(name) sends again",
                                  metadata: ["destination": "\(name)"])
        }
        return left == 0
    }

    /// A notification read from the queue longer ago than this is looked up again before
    /// it is sent (`stillQueued`).
    static let recheckAfter: Duration = .milliseconds(100)

    /// Whether the notification is still queued (not withdrawn meanwhile). A lookup that
    /// fails says yes: the attempt's record then meets the state database anyway.
    private func stillQueued(_ id: String) async -> Bool {
        if state.withLock({ $0.withdrawn.contains(id) }) { return false }
        do throws(StoreError) {
            return try await onStateQueue { outbox throws(StoreError) in try outbox.isQueued(id: id) }
        } catch {
            return true
        }
    }

    /// Why a retry due now may not start: `retry.give_up_after` since it was queued (or
    /// requeued) has run out meanwhile. Nil for a first attempt, which is always made.
    static func pastGiveUp(_ notification: OverdueNotification, budget: RetryBudget, spec: DestinationSpec, now: Date) -> String? {
        guard notification.attempts > budget.attemptsBefore,
              now > budget.start.addingTimeInterval(spec.retry.giveUpAfter.seconds) else { return nil }
        return "\(notification.lastError ?? "not delivered"); gave up: retry.give_up_after (\(DurationText.format(spec.retry.giveUpAfter))) since it was "
            + "\(budget.isRequeue ? "requeued" : "queued") ran out before its next attempt could start (its destination was paused: its receiver asked to wait, or its answers crashed overdued; or overdued was not running)"
    }

    /// Records `giveUp`'s verdict; false when the notification was no longer queued or the
    /// state database refused (it is then tried again at its next turn).
    private func giveUp(_ notification: OverdueNotification, reason: String) async -> Bool {
        var logger = context.logger.forAttempt(notification.attempts, of: notification)
        do {
            guard try await onStateQueue({ [id = notification.id, now = context.now()] outbox throws(StoreError) in
                try outbox.giveUp(id, reason: reason, at: now)
            }) else { return false }
            context.recorder.noteQueueChanged(by: 1)
        } catch {
            logger.error("cannot give up \(notification.id): \(error)")
            return false
        }
        logger[metadataKey: "event"] = "dead"
        logger.error("given up on \(notification.destination): \(reason)")
        return true
    }

    /// The longest a request waits for its start to be written down (see `deliver`).
    static let startedMarkWait: Duration = .milliseconds(250)

    /// How many due notifications one queue read takes.
    static func readAhead(_ spec: DestinationSpec) -> Int {
        min(64, spec.concurrency * 4)
    }

    private static func duration(from start: Date, to end: Date) -> Duration {
        .milliseconds(Int64(max(0, end.timeIntervalSince(start)) * 1000))
    }

    /// One attempt: render, POST, decide, record, log. Returns the recorded outcome; nil when
    /// the attempt was cancelled by shutdown (the notification stays due) or is kept to be
    /// recorded later (`State.unrecorded`).
    private func deliver(_ notification: OverdueNotification, spec: DestinationSpec, ticket: Int) async -> DeliveryOutcome? {
        let attempt = notification.attempts + 1
        let sentAt = PayloadTimestamp.requestInstant(context.now())
        var logger = context.logger.forAttempt(attempt, of: notification)

        let body: Data
        do {
            body = try PayloadRenderer.render(format: spec.format, snapshotJSON: notification.snapshot,
                                              notificationID: notification.id, sentAt: sentAt)
        } catch {
            await limiter.finished(ticket: ticket, at: .now)
            let record = DeliveryAttempt(notificationID: notification.id, attempt: attempt, startedAt: sentAt,
                                         durationMilliseconds: 0, error: error.message)
            let outcome = DeliveryOutcome.dead(reason: error.message)
            let recorded = await store(record, outcome, logger: logger)
            logger[metadataKey: "event"] = "dead"
            if !recorded { logger[metadataKey: "recorded"] = "no" }
            logger.error("dead: cannot build the payload: \(error.message)\(recorded ? "" : " (not recorded yet)")")
            return recorded ? outcome : nil
        }

        let request = WebhookRequest(body: body, notificationID: notification.id, timestamp: sentAt,
                                     destination: spec, userAgentVersion: context.userAgentVersion)
        // Written down before it leaves: if this process ends before the answer is recorded
        // (an answer that crashes it, say), the next deliverer counts the attempt as failed
        // instead of sending it again as if new, at every restart. When the state database
        // cannot take it at once (another process holds its write lock), the request goes
        // after `startedMarkWait` all the same.
        await context.recorder.started(StartedAttempt(notificationID: notification.id, attempt: attempt, startedAt: sentAt,
                                                                      receiver: spec.redactedURL),
                                       waitingAtMost: Self.startedMarkWait)
        let limiter = self.limiter
        let sent = LockedState(false)
        let result = await context.transport.post(request, to: spec, onSent: {
            limiter.markSent(ticket: ticket)
            sent.withLock { $0 = true }
        })
        await limiter.finished(ticket: ticket, at: .now)
        if case .failure(let failure) = result.result, failure.kind == .localResources {
            // Not the receiver's doing, and not an attempt: its mark goes, the notification stays
            // due, and this request's slot waits a moment before the next (descriptors come back
            // as the requests in flight end). Said at most once a minute.
            _ = await context.recorder.forget(startedOf: notification.id)
            let say = state.withLock { state in
                let now = ContinuousClock.now
                guard state.outOfDescriptorsSaidAt.map({ now - $0 >= Self.descriptorShortageRepeat }) ?? true else { return false }
                state.outOfDescriptorsSaidAt = now
                return true
            }
            if say {
                logger.error("""
                    \(failure.message); the notification stays queued, and \(spec.name)'s requests wait \
                    \(DurationText.format(Self.descriptorWait)) for descriptors to come back: lower its concurrency \
                    (\(spec.concurrency)) or raise the limit (LimitNOFILE=)
                    """)
            }
            if !context.isStopping { try? await Task.sleep(for: Self.descriptorWait) }
            return nil
        }
        // Answered (or failed): what is left is writing it down (a receiver's pause, the attempt).
        context.recordStarted()
        defer { context.recordEnded() }

        logger[metadataKey: "duration_ms"] = "\(result.duration.milliseconds)"
        if let status = result.httpStatus { logger[metadataKey: "http_status"] = "\(status)" }
        if case .failure(let failure) = result.result, failure.kind == .cancelled {
            // Cut off by the stop (after its grace), not by the receiver. Whether the receiver
            // got it is unknown: it stays queued and goes again, under the same webhook-id, so
            // a receiver that did get it can drop the duplicate. A request that failed on its
            // own during the grace (a timeout, a refusal) is an attempt like any other.
            logger.notice("delivery interrupted by shutdown; the notification stays queued")
            // Not an attempt: its mark goes (if the database takes it before the end; if not,
            // the next start counts it as one cut off).
            _ = await context.recorder.forget(startedOf: notification.id)
            return nil
        }

        // The budget first: its look at the clocks enqueues the move of a step back before this
        // decision's record, which is then on the new clock and stays.
        let budget = context.budget(of: notification)
        let decidedAt = context.now()
        let decision = RetryPolicy(spec: spec.retry, jitter: context.jitter)
            .decide(result.result, attempt: attempt, budget: budget, now: decidedAt)
        if let pause = RetryPolicy.destinationPause(after: result.result, now: decidedAt), let status = result.httpStatus {
            let shownUntil = decidedAt.addingTimeInterval(pause.seconds)
            if pauseFor(Pause(until: .now + pause, shownUntil: shownUntil, httpStatus: status, recordedUntil: shownUntil), askedBy: spec.redactedURL) {
                logger.notice("\(spec.name) asks to wait \(DurationText.format(pause)) (HTTP \(status) with Retry-After): nothing more is sent to it until \(PayloadTimestamp.iso8601(shownUntil)), or `overdued queue resume \(spec.name)`")
                let written = await recordPause { outbox throws(StoreError) in
                    try outbox.recordReceiverPause(ReceiverPause(destination: spec.name, until: shownUntil, httpStatus: status,
                                                                 setAt: decidedAt, receiver: spec.redactedURL))
                }
                if written {
                    state.withLock { state in
                        if state.pause?.recordedUntil == shownUntil { state.pause?.recorded = true }
                    }
                }
            }
        }
        let record = DeliveryAttempt(notificationID: notification.id, attempt: attempt, startedAt: sentAt,
                                     durationMilliseconds: Int(result.duration.milliseconds), httpStatus: result.httpStatus,
                                     error: decision.verdict == .delivered ? nil : decision.reason,
                                     responseBody: result.responseBody)
        // No answer after the request left (a timeout, a broken connection): the receiver may
        // have it all the same.
        let recorded = await store(record, decision.outcome, mayHaveArrived: result.httpStatus == nil && sent.withLock { $0 }, logger: logger)
        // The former receiver's refusal, recorded after a reload pointed the destination at
        // another receiver: the loop's `endFormerReceiversPause` may have run before this record
        // was written, and missed it. Due now, as the others.
        if recorded, case .retry = decision.verdict, result.httpStatus == 429 || result.httpStatus == 503,
           state.withLock({ $0.spec.redactedURL }) != spec.redactedURL {
            let (id, now) = (notification.id, context.now())
            if (try? await onStateQueue({ outbox throws(StoreError) in try outbox.makeDueNow(notificationID: id, now: now) })) == true {
                wake()
            }
        }

        // What the receiver did is logged whether or not the record could be written yet; a
        // line whose record waits says so, in its text and in a field (`RECORDED=no`): a stop
        // may end before it is written, and then the notification goes again under the same
        // webhook-id.
        let pending = recorded ? "" : " (not recorded yet)"
        if !recorded { logger[metadataKey: "recorded"] = "no" }
        switch decision.verdict {
        case .delivered:
            logger[metadataKey: "event"] = "delivered"
            logger.info("delivered to \(spec.name) (\(spec.redactedURL)): \(decision.reason)\(pending)")
        case .retry:
            logger[metadataKey: "event"] = "retry"
            logger.warning("not delivered to \(spec.name) (\(spec.redactedURL)): \(decision.reason)\(pending)")
        case .dead:
            logger[metadataKey: "event"] = "dead"
            logger.error("given up on \(spec.name) (\(spec.redactedURL)): \(decision.reason)\(pending)")
        }
        return recorded ? decision.outcome : nil
    }

    /// Records the attempt; when the state database refuses it, keeps it to record later (see
    /// `State.unrecorded`) and returns false.
    private func store(_ attempt: DeliveryAttempt, _ outcome: DeliveryOutcome, mayHaveArrived: Bool = false, logger: Logger) async -> Bool {
        let now = context.now()
        switch await context.recorder.record(attempt, outcome: outcome, at: now, mayHaveArrived: mayHaveArrived) {
        case .success:
            return true
        case .failure(let error):
            context.noteDamage(error)
            let first = state.withLock { state -> Bool in
                state.unrecorded.append(RecordedAttempt(attempt: attempt, outcome: outcome, at: now, mayHaveArrived: mayHaveArrived))
                return state.unrecorded.count == 1
            }
            if first {
                logger.error("cannot record the delivery attempt: \(error); \(name) sends nothing new until it can, and tries again every \(DurationText.format(Self.recordRetryInterval))")
            }
            return false
        }
    }
}
