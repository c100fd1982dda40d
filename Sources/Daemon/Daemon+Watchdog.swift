import CProcessMemory
import Dispatch
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Synchronization
import Systemd
import TimeZoneRules

#if canImport(Glibc)
import Glibc
#endif

extension Daemon {
    /// Pings at half of `WATCHDOG_USEC`, only while the gate sees both loops alive: a hung
    /// tick (a lock held forever) or a stuck notifier stops the pings and systemd restarts us.
    func startWatchdogPings() {
        guard let gate, let interval = notify.watchdogPingInterval else { return }
        let queue = DispatchQueue(label: "overdued.watchdog")
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: .milliseconds(Int(max(interval.milliseconds, 100))))
        let pings = WatchdogPings(gate: gate, notify: notify, logger: logger, interval: max(interval, .milliseconds(100)))
        // A running tick counts as progressing while its steps advance between two pings.
        let progress = progress
        let stepsSeen = Mutex(progress.stepCount)
        timer.setEventHandler { @Sendable [weak self] in
            // Stopping (from SIGTERM on; STOPPING=1 follows at once): systemd no longer watches,
            // and the loops wind down on purpose; a "pings stopped" error then would be a false alarm.
            guard let self, !isStopping else { return }
            let steps = progress.stepCount
            pings.turn(tickProgressed: stepsSeen.withLock { seen in defer { seen = steps }; return seen != steps })
        }
        timer.resume()
        let kept = KeptSource(source: timer)
        sources.withLock { $0.append(kept) }
    }
}
