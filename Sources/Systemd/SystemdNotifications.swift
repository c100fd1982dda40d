import Synchronization

/// The daemon's messages to the service manager, of which `STOPPING=1` is the last: once it
/// is sent, no `READY=1`, `RELOADING=1`, `STATUS=` or `WATCHDOG=1` follows, whichever thread
/// was about to send one (a tick ending, the queue's status refresh, a reload). Each message
/// is sent under one lock with the "stopping" mark, so none can slip in after it.
public final class SystemdNotifications: Sendable {
    private let socket: NotifySocket
    private let stopped = Mutex(false)

    /// Reads `$NOTIFY_SOCKET` and the watchdog settings now (see ``NotifySocket``).
    public init() {
        socket = NotifySocket()
    }

    public var watchdogInterval: Duration? { socket.watchdogInterval }
    public var watchdogPingInterval: Duration? { socket.watchdogPingInterval }

    public func ready(status: String) { unlessStopped { $0.ready(status: status) } }
    public func status(_ text: String) { unlessStopped { $0.status(text) } }
    public func reloading() { unlessStopped { $0.reloading() } }
    public func watchdog() { unlessStopped { $0.watchdog() } }

    public func stopping(status: String) {
        stopped.withLock { stopped in
            stopped = true
            socket.stopping(status: status)
        }
    }

    private func unlessStopped(_ send: (NotifySocket) -> NotifySocket.Outcome) {
        stopped.withLock { stopped in
            if !stopped { _ = send(socket) }
        }
    }
}
