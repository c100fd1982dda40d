/// The spacing rule of one destination as pure arithmetic: when may the next request start?
///
/// `min_interval` exists because the receiving automation service dropped webhooks that
/// arrived within the same millisecond, so the interval must hold **where the requests
/// arrive**, not only where they leave. Spacing the starts is not enough: a first request
/// that spends 5 ms connecting and a second that reuses the connection arrive 5 ms closer
/// than they left. So the interval is counted from the last moment the previous request was
/// surely not yet at the receiver's door — the later of the time its body was fully written
/// and the time it ended (response or error) — and the next start waits for the previous
/// request to be written at all. With `concurrency` 1 the previous request has always
/// ended, which makes the guarantee exact; with several in flight it holds up to the
/// network's delivery time of a written request.
///
/// With `min_interval` 0 nothing is tracked and `concurrency` alone limits the flow.
public struct RateLimitSlots: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public var minInterval: Duration
    /// From when the interval is counted (nil: no request yet).
    public private(set) var anchor: Instant?
    /// The latest started request, while it is not yet written.
    public private(set) var unsent: Int?
    private var lastTicket = 0
    /// The anchor before the latest start, for `unused`.
    private var anchorBeforeLastStart: Instant?

    public init(minInterval: Duration) {
        self.minInterval = minInterval
    }

    /// When the next request may start, at the earliest `now`; nil while the previous request
    /// is not yet written (wait for `sent` or `finished`).
    public func earliestStart(now: Instant) -> Instant? {
        guard minInterval > .zero else { return now }
        if unsent != nil { return nil }
        guard let anchor else { return now }
        return max(now, anchor + minInterval)
    }

    /// A request starts now; returns its ticket for `sent` and `finished`. Kept track of at
    /// an interval of zero too: a reload that raises it spaces the next request from this one.
    public mutating func start(at now: Instant) -> Int {
        lastTicket += 1
        anchorBeforeLastStart = anchor
        anchor = max(anchor ?? now, now)
        unsent = lastTicket
        return lastTicket
    }

    /// The latest ticket was taken, but no request went with it (its notification was
    /// withdrawn meanwhile): the next request is spaced from the one before, as if the ticket
    /// had not been taken. A slow destination (`min_interval` of a minute) does not make a
    /// real notification wait behind notifications never sent.
    public mutating func unused(ticket: Int) {
        guard ticket == lastTicket, unsent == ticket else { return }
        anchor = anchorBeforeLastStart
        unsent = nil
    }

    /// The request's body is fully written.
    public mutating func sent(ticket: Int, at now: Instant) {
        advance(ticket: ticket, to: now)
    }

    /// The request ended: response received, failed or cancelled.
    public mutating func finished(ticket: Int, at now: Instant) {
        advance(ticket: ticket, to: now)
    }

    private mutating func advance(ticket: Int, to now: Instant) {
        // Only the most recent request matters: the next one is spaced from it, and an older
        // one, already followed by a later start, arrived before that later one left.
        guard ticket == lastTicket else { return }
        anchor = max(anchor ?? now, now)
        if unsent == ticket { unsent = nil }
    }
}

/// The waiting side of `RateLimitSlots` for one destination: `acquire()` suspends until the
/// next request may start. Destinations each have their own, so a slow one never delays
/// another.
actor RateLimiter {
    private var slots: RateLimitSlots
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(minInterval: Duration) {
        slots = RateLimitSlots(minInterval: minInterval)
    }

    /// Waits for a slot and takes it; nil when the task was cancelled while waiting.
    /// The interval is asked for at each step of the wait, so a config reload applies to the
    /// request waiting now (a `min_interval` lowered from a minute does not hold it a minute);
    /// the anchor is kept, so a change cannot squeeze two requests together.
    func acquire(minInterval: @Sendable () -> Duration) async -> Int? {
        while !Task.isCancelled {
            slots.minInterval = minInterval()
            let now = ContinuousClock.now
            guard let start = slots.earliestStart(now: now) else {
                // The previous request is not yet written; `sent`/`finished` wake us.
                await withCheckedContinuation { waiters.append($0) }
                continue
            }
            if start <= now {
                return slots.start(at: now)
            }
            do {
                try await Task.sleep(until: min(start, now + Self.longestStep), clock: .continuous)
            } catch {
                return nil
            }
        }
        return nil
    }

    /// The longest sleep of a wait for a slot before the interval is asked for again.
    static let longestStep: Duration = .milliseconds(250)

    func sent(ticket: Int, at instant: ContinuousClock.Instant) {
        slots.sent(ticket: ticket, at: instant)
        resumeWaiters()
    }

    func finished(ticket: Int, at instant: ContinuousClock.Instant) {
        slots.finished(ticket: ticket, at: instant)
        resumeWaiters()
    }

    func unused(ticket: Int) {
        slots.unused(ticket: ticket)
        resumeWaiters()
    }

    /// For callbacks on NIO threads: the instant is taken now, the bookkeeping follows.
    nonisolated func markSent(ticket: Int) {
        let now = ContinuousClock.now
        Task { await self.sent(ticket: ticket, at: now) }
    }

    private func resumeWaiters() {
        let resumed = waiters
        waiters.removeAll()
        for waiter in resumed { waiter.resume() }
    }
}
