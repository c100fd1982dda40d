public import Logging
import Synchronization

/// The watchdog timer's turn, at half of `WATCHDOG_USEC`: `WATCHDOG=1` when the gate sees
/// both loops alive, nothing otherwise, so that a hung tick or a stuck notifier has systemd
/// restart the service. The first turn withheld says why (an error line); the next ones
/// stay silent until a ping goes again.
public final class WatchdogPings: Sendable {
    private let gate: SharedWatchdogGate
    private let notify: SystemdNotifications
    private let logger: Logger
    /// Whether the last turn withheld its ping.
    private let withheld = Mutex(false)
    /// How often the turns come; nil: not known (no late turn is told apart).
    private let interval: Duration?
    private let lastTurn = Mutex<WatchdogGate.Instant?>(nil)

    public init(gate: SharedWatchdogGate, notify: SystemdNotifications, logger: Logger, interval: Duration? = nil) {
        self.gate = gate
        self.notify = notify
        self.logger = logger
        self.interval = interval
    }

    /// - Parameter tickProgressed: whether the running tick's steps advanced since the last
    ///   turn (a tick over a million matches runs for a minute, advancing all along).
    public func turn(tickProgressed: Bool, now: WatchdogGate.Instant = .now) {
        let previous = lastTurn.withLock { last in
            defer { last = now }
            return last
        }
        // A turn far later than its interval: the whole process did not run (SIGSTOP, a frozen
        // cgroup, a paused machine), and the loops have had no turn since either. Judging them
        // now said "pings stopped" after every such pause: a ping goes if they look alive, and
        // otherwise they are judged at the next turn, once they have run.
        let late = interval.flatMap { interval in previous.map { now - $0 > interval * 3 } } ?? false
        if tickProgressed { gate.tickProgressed(at: now) }
        switch gate.verdict(now: now) {
        case .ping:
            notify.watchdog()
            withheld.withLock { $0 = false }
        case .withhold where late:
            logger.notice("the watchdog timer came \(WatchdogGate.seconds(now - (previous ?? now))) after its last turn: this process did not run meanwhile (stopped or frozen); the loops are judged at the next turn")
        case .withhold(let reason):
            let first = withheld.withLock { was -> Bool in
                defer { was = true }
                return !was
            }
            if first { logger.error("watchdog pings stopped: \(reason)") }
        }
    }
}
