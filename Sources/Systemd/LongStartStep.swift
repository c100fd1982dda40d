import Dispatch
import Synchronization

/// A step of the start that can outlast the service manager's start timeout (the upgrade of a
/// large state database): from `begin` until `end`, `STATUS=` says what runs and for how long,
/// and `EXTEND_TIMEOUT_USEC=` asks for more time (six intervals), at once and then every
/// `interval` (5 s). Without it, systemd killed an upgrade longer than `TimeoutStartSec` (90 s
/// by default), which rolled back, and restarted it until the unit failed.
public final class LongStartStep: Sendable {
    private let notify: SystemdNotifications
    private let interval: Duration
    private let timer = Mutex<(any DispatchSourceTimer)?>(nil)

    public init(notify: SystemdNotifications, interval: Duration = .seconds(5)) {
        self.notify = notify
        self.interval = interval
    }

    /// Starts saying `status` (a second call while one runs changes nothing).
    public func begin(status: String) {
        timer.withLock { timer in
            guard timer == nil else { return }
            let started = ContinuousClock.now
            let (notify, interval) = (notify, interval)
            @Sendable func say() {
                let seconds = started.duration(to: .now).components.seconds
                notify.status(seconds == 0 ? status : "\(status) (\(seconds) s so far)")
                // Six intervals: a message or two may come late on a loaded machine.
                notify.extendTimeout(by: interval * 6)
            }
            // The first at once, from here: a step that ends within milliseconds is said too.
            say()
            let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "overdued.long-start-step"))
            // Sent under the lock that `end` takes: nothing is said once `end` has returned (a
            // late "upgrading" after READY=1 would stay in `systemctl status`).
            source.setEventHandler { [weak self] in
                self?.timer.withLock { running in if running != nil { say() } }
            }
            let every = DispatchTimeInterval.milliseconds(Int(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000))
            source.schedule(deadline: .now() + every, repeating: every)
            source.resume()
            timer = source
        }
    }

    /// The step is over: no more messages.
    public func end() {
        timer.withLock { timer in
            timer?.cancel()
            timer = nil
        }
    }

    deinit { end() }
}
