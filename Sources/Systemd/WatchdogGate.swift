import Synchronization

/// Decides whether `WATCHDOG=1` may be sent, from heartbeats the two loops record.
///
/// A timer that pings unconditionally only proves that one timer queue runs; systemd's
/// watchdog is useful only if a stuck tick (a SQLite lock held forever, a hung query) or a dead
/// notifier stops the pings so the manager restarts the service. So the gate lets a ping through
/// only while *both* loops have shown progress recently:
///
/// - the tick loop, while a tick runs, for at most ``Limits/tickBudget`` since the tick last
///   reported progress (a tick over a million matches runs for a minute, and advances all
///   along; a tick stuck on a lock does not); while it waits on its
///   timer, until the next tick is due plus ``Limits/timerSlack``, and in any case for
///   ``Limits/tickInterval`` + ``Limits/tickBudget`` after its last tick ended;
/// - the notifier, for ``Limits/notifierSilence`` after its last heartbeat (its loop beats at
///   least every few seconds, idle or not).
///
/// The gate holds no clock: every instant is passed in, so tests drive it over simulated time.
/// Use ``SharedWatchdogGate`` to record heartbeats from several queues or tasks.
public struct WatchdogGate: Sendable {
    public typealias Instant = ContinuousClock.Instant

    /// How long each loop may go without progress before the pings stop.
    public struct Limits: Sendable, Equatable {
        /// `schedule.interval`: the time between two ticks when idle.
        public var tickInterval: Duration
        /// The longest one tick may go without progress; past it the tick counts as hung.
        public var tickBudget: Duration
        /// How late the tick timer may fire before the waiting loop counts as stuck.
        public var timerSlack: Duration
        /// The longest the notifier may go without a heartbeat.
        public var notifierSilence: Duration

        /// - Parameters:
        ///   - tickInterval: the configured schedule interval.
        ///   - tickBudget: the longest a healthy tick takes; keep it finite (minutes, not hours)
        ///     or a hung tick goes unnoticed for that long.
        ///   - watchdogInterval: `WATCHDOG_USEC`; the defaults below derive from it so that a hang
        ///     is noticed within about two watchdog periods.
        ///   - timerSlack: defaults to half the watchdog interval (one ping period).
        ///   - notifierSilence: defaults to the watchdog interval.
        public init(
            tickInterval: Duration,
            tickBudget: Duration,
            watchdogInterval: Duration,
            timerSlack: Duration? = nil,
            notifierSilence: Duration? = nil
        ) {
            self.tickInterval = tickInterval
            self.tickBudget = tickBudget
            self.timerSlack = timerSlack ?? watchdogInterval / 2
            self.notifierSilence = notifierSilence ?? watchdogInterval
        }
    }

    /// The gate's answer, with the reason when the ping is withheld (for the log).
    public enum Verdict: Sendable, Equatable {
        case ping
        case withhold(reason: String)
    }

    private enum TickState: Sendable {
        /// A tick has been running since `since`, and last reported progress at `progress`.
        case running(since: Instant, progress: Instant)
        /// The loop waits on its timer; `nextTickAt` is nil when the loop did not say when.
        case waiting(since: Instant, nextTickAt: Instant?)
    }

    /// The limits in force; replace them when a reload changes the schedule.
    public var limits: Limits
    private var tick: TickState
    private var lastNotifierBeat: Instant

    /// Both loops count as fresh at `start`, so the first tick and the first notifier beat have
    /// their full allowance.
    public init(limits: Limits, start: Instant) {
        self.limits = limits
        self.tick = .waiting(since: start, nextTickAt: nil)
        self.lastNotifierBeat = start
    }

    /// The tick loop began a tick.
    public mutating func tickStarted(at instant: Instant) {
        tick = .running(since: instant, progress: instant)
    }

    /// The running tick advanced (it read rows, decided, wrote); ignored between ticks.
    public mutating func tickProgressed(at instant: Instant) {
        if case .running(let since, _) = tick { tick = .running(since: since, progress: instant) }
    }

    /// The tick loop finished a tick (successfully or not) and now waits on its timer;
    /// `nextTickAt` is when the timer is due, if the loop knows it (aligned schedules).
    public mutating func tickFinished(at instant: Instant, nextTickAt: Instant? = nil) {
        tick = .waiting(since: instant, nextTickAt: nextTickAt)
    }

    /// The notifier loop went round once (delivered, found nothing to do, or waited).
    public mutating func notifierBeat(at instant: Instant) {
        lastNotifierBeat = instant
    }

    /// Whether both loops have shown progress recently enough at `now`.
    public func verdict(now: Instant) -> Verdict {
        if let reason = tickLoopStall(now: now) { return .withhold(reason: reason) }
        let silence = lastNotifierBeat.duration(to: now)
        if silence > limits.notifierSilence {
            return .withhold(
                reason: "notifier silent for \(Self.seconds(silence)) (limit \(Self.seconds(limits.notifierSilence)))"
            )
        }
        return .ping
    }

    /// `verdict(now:) == .ping`.
    public func mayPing(now: Instant) -> Bool {
        verdict(now: now) == .ping
    }

    private func tickLoopStall(now: Instant) -> String? {
        switch tick {
        case .running(let since, let progress):
            let still = progress.duration(to: now)
            guard still > limits.tickBudget else { return nil }
            return "tick running for \(Self.seconds(since.duration(to: now))), without progress for \(Self.seconds(still)) "
                + "(budget \(Self.seconds(limits.tickBudget)))"
        case .waiting(let since, let nextTickAt):
            let allowance = limits.tickInterval + limits.tickBudget
            if since.duration(to: now) <= allowance { return nil }
            if let nextTickAt, now <= nextTickAt + limits.timerSlack { return nil }
            let due = nextTickAt ?? since + limits.tickInterval
            return "tick timer overdue by \(Self.seconds(due.duration(to: now))), "
                + "last tick ended \(Self.seconds(since.duration(to: now))) ago"
        }
    }

    /// Seconds with one decimal, e.g. "312.5s": enough for a log line, no Foundation needed.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10 + attoseconds / 100_000_000_000_000_000
        let sign = tenths < 0 ? "-" : ""
        let magnitude = tenths.magnitude
        return "\(sign)\(magnitude / 10).\(magnitude % 10)s"
    }
}

/// A ``WatchdogGate`` behind a lock, shared by the tick loop, the notifier and the ping timer,
/// which run on different queues or tasks. Instants default to `ContinuousClock.now`.
public final class SharedWatchdogGate: Sendable {
    private let gate: Mutex<WatchdogGate>

    public init(limits: WatchdogGate.Limits, start: WatchdogGate.Instant = .now) {
        gate = Mutex(WatchdogGate(limits: limits, start: start))
    }

    /// See ``WatchdogGate/tickStarted(at:)``.
    public func tickStarted(at instant: WatchdogGate.Instant = .now) {
        gate.withLock { $0.tickStarted(at: instant) }
    }

    /// See ``WatchdogGate/tickFinished(at:nextTickAt:)``.
    public func tickFinished(at instant: WatchdogGate.Instant = .now, nextTickAt: WatchdogGate.Instant? = nil) {
        gate.withLock { $0.tickFinished(at: instant, nextTickAt: nextTickAt) }
    }

    /// See ``WatchdogGate/tickProgressed(at:)``.
    public func tickProgressed(at instant: WatchdogGate.Instant = .now) {
        gate.withLock { $0.tickProgressed(at: instant) }
    }

    /// See ``WatchdogGate/notifierBeat(at:)``.
    public func notifierBeat(at instant: WatchdogGate.Instant = .now) {
        gate.withLock { $0.notifierBeat(at: instant) }
    }

    /// Replaces the limits, e.g. after a reload changed `schedule.interval`.
    public func setLimits(_ limits: WatchdogGate.Limits) {
        gate.withLock { $0.limits = limits }
    }

    /// See ``WatchdogGate/verdict(now:)``.
    public func verdict(now: WatchdogGate.Instant = .now) -> WatchdogGate.Verdict {
        gate.withLock { $0.verdict(now: now) }
    }

    /// See ``WatchdogGate/mayPing(now:)``.
    public func mayPing(now: WatchdogGate.Instant = .now) -> Bool {
        gate.withLock { $0.mayPing(now: now) }
    }
}
