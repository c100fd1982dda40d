import Foundation
public import Logging
import Synchronization

/// The daemon's messages to the service manager, of which `STOPPING=1` is the last: once it
/// is sent, no `READY=1`, `RELOADING=1`, `STATUS=` or `WATCHDOG=1` follows, whichever thread
/// was about to send one (a tick ending, the queue's status refresh, a reload). Each message
/// is sent under one lock with the "stopping" mark, so none can slip in after it.
///
/// A message the manager did not get is logged, once for each kind until one of that kind
/// gets through again: with `WatchdogSec=`, pings that fail (a `NotifyAccess=` changed, the
/// socket's permissions) end in systemd killing the service, and the journal should say why
/// before that, not only "watchdog timeout".
public final class SystemdNotifications: Sendable {
    private let socket: NotifySocket
    private let logger: Logger?
    private let sending = Mutex(Sending())

    private struct Sending {
        var stopped = false
        /// The kinds of message whose last send failed (and was logged).
        var failing: Set<String> = []
    }

    /// Reads `$NOTIFY_SOCKET` and the watchdog settings now (see ``NotifySocket``).
    public init(logger: Logger? = nil) {
        socket = NotifySocket()
        self.logger = logger
    }

    public var watchdogInterval: Duration? { socket.watchdogInterval }
    public var watchdogPingInterval: Duration? { socket.watchdogPingInterval }

    public func ready(status: String) { unlessStopped("READY=1") { $0.ready(status: status) } }
    public func status(_ text: String) { unlessStopped("STATUS=") { $0.status(text) } }
    public func reloading() { unlessStopped("RELOADING=1") { $0.reloading() } }
    public func watchdog() { unlessStopped("WATCHDOG=1") { $0.watchdog() } }
    public func extendTimeout(by duration: Duration) { unlessStopped("EXTEND_TIMEOUT_USEC=") { $0.extendTimeout(by: duration) } }

    public func stopping(status: String) {
        sending.withLock { state in
            state.stopped = true
            if case .failed(let errno) = socket.stopping(status: status) { logFailure("STOPPING=1", errno: errno) }
        }
    }

    private func unlessStopped(_ kind: String, _ send: (NotifySocket) -> NotifySocket.Outcome) {
        // Logged under the lock, as sent: two threads sending the same kind cannot log its
        // failure and its recovery in the wrong order.
        sending.withLock { state in
            guard !state.stopped else { return }
            switch send(socket) {
            case .failed(let errno):
                if state.failing.insert(kind).inserted { logFailure(kind, errno: errno) }
            case .sent:
                if state.failing.remove(kind) != nil { logger?.notice("the service manager receives \(kind) again") }
            case .disabled:
                break
            }
        }
    }

    private func logFailure(_ kind: String, errno: Int32) {
        let watchdog = kind == "WATCHDOG=1"
            ? "; systemd stops the service when its watchdog pings do not arrive (check the unit's NotifyAccess setting and the socket)"
            : ""
        logger?.error("could not send \(kind) to the service manager: \(String(cString: strerror(errno))) (errno \(errno))\(watchdog)")
    }
}
