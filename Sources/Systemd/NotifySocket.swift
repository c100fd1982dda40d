internal import CSystemd
internal import TextEscaping

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The service manager's notification socket (`$NOTIFY_SOCKET`), through which the daemon tells
/// systemd the moments that matter: ready, reloading, stopping, alive, and a one-line status.
///
/// Every message goes through `sd_notify(0, …)`: the environment is left in place so that a
/// reload, long after start-up, can still reach the manager. When the process was not started
/// with a notification socket (a shell, a test, `Type=simple`) every call returns `.disabled`
/// without formatting anything.
public struct NotifySocket: Sendable {
    /// What became of one message.
    public enum Outcome: Sendable, Equatable {
        /// The manager received the datagram.
        case sent
        /// No notification socket: nothing was sent, by design.
        case disabled
        /// `sd_notify` failed; `errno` is the positive error number it reported.
        case failed(errno: Int32)
    }

    /// Whether the process was given a notification socket when this value was made.
    public let isEnabled: Bool

    /// The manager's watchdog timeout (`WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or is this
    /// process); nil when the unit has no `WatchdogSec=`.
    public let watchdogInterval: Duration?

    /// Reads `$NOTIFY_SOCKET` and the watchdog settings once; make one at start-up and share it.
    public init() {
        isEnabled = getenv("NOTIFY_SOCKET") != nil
        var usec: UInt64 = 0
        if sd_watchdog_enabled(0, &usec) > 0, usec > 0 {
            watchdogInterval = .microseconds(Int64(clamping: usec))
        } else {
            watchdogInterval = nil
        }
    }

    /// How often to send `WATCHDOG=1`: half the watchdog timeout, as sd_watchdog_enabled(3)
    /// recommends, so one late ping does not get the service killed.
    public var watchdogPingInterval: Duration? {
        watchdogInterval.map { $0 / 2 }
    }

    /// Start-up (or a reload) is complete: the config is loaded and the stores are open.
    /// An optional status line rides in the same datagram.
    @discardableResult
    public func ready(status: String? = nil) -> Outcome {
        guard isEnabled else { return .disabled }
        var message = "READY=1"
        if let status { message += "\nSTATUS=" + Self.statusLine(status) }
        return send(message)
    }

    /// Replaces the free-form status shown by `systemctl status`; newlines and other control
    /// characters are folded into spaces because the manager shows a single line.
    @discardableResult
    public func status(_ text: String) -> Outcome {
        guard isEnabled else { return .disabled }
        return send("STATUS=" + Self.statusLine(text))
    }

    /// The daemon is alive; send only when the watchdog gate allows it (see ``WatchdogGate``).
    @discardableResult
    public func watchdog() -> Outcome {
        guard isEnabled else { return .disabled }
        return send("WATCHDOG=1")
    }

    /// A reload begins. `MONOTONIC_USEC` is required by `Type=notify-reload` (systemd ≥ 253) to
    /// tell this reload from an earlier one; systemd 252 ignores it. Follow with ``ready(status:)``.
    @discardableResult
    public func reloading() -> Outcome {
        guard isEnabled else { return .disabled }
        return send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// Asks the manager for `duration` more before it gives up on the current phase (start-up,
    /// here: a start waiting for free space), measured from now (systemd ≥ 236).
    @discardableResult
    public func extendTimeout(by duration: Duration) -> Outcome {
        guard isEnabled else { return .disabled }
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        return send("EXTEND_TIMEOUT_USEC=\(micros)")
    }

    /// Shutdown has begun; the manager stops expecting watchdog pings.
    @discardableResult
    public func stopping(status: String? = nil) -> Outcome {
        guard isEnabled else { return .disabled }
        var message = "STOPPING=1"
        if let status { message += "\nSTATUS=" + Self.statusLine(status) }
        return send(message)
    }

    private func send(_ message: String) -> Outcome {
        let result = sd_notify(0, message)
        if result > 0 { return .sent }
        if result == 0 { return .disabled }
        return .failed(errno: -result)
    }

    /// `CLOCK_MONOTONIC` in microseconds: the clock systemd compares `MONOTONIC_USEC` against.
    /// (Swift's `ContinuousClock` is `CLOCK_BOOTTIME` on Linux, which differs after a suspend.)
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// One line for `STATUS=`: each line is trimmed, empty lines dropped, the rest joined by a
    /// space; any remaining control character (`PrintableText.isControl`: tab, NUL, escape, a
    /// bidirectional override) becomes a space.
    static func statusLine(_ text: String) -> String {
        let joined = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
        var scalars = String.UnicodeScalarView()
        for scalar in joined.unicodeScalars {
            scalars.append(PrintableText.isControl(scalar) ? " " : scalar)
        }
        return String(scalars)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var slice = self
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return slice
    }
}
