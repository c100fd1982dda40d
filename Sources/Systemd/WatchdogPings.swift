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

    public init(gate: SharedWatchdogGate, notify: SystemdNotifications, logger: Logger) {
        self.gate = gate
        self.notify = notify
        self.logger = logger
    }

    /// - Parameter tickProgressed: whether the running tick's steps advanced since the last
    ///   turn (a tick over a million matches runs for a minute, advancing all along).
    public func turn(tickProgressed: Bool, now: WatchdogGate.Instant = .now) {
        if tickProgressed { gate.tickProgressed(at: now) }
        switch gate.verdict(now: now) {
        case .ping:
            notify.watchdog()
            withheld.withLock { $0 = false }
        case .withhold(let reason):
            let first = withheld.withLock { was -> Bool in
                defer { was = true }
                return !was
            }
            if first { logger.error("watchdog pings stopped: \(reason)") }
        }
    }
}
