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
    func installSignalHandlers() {
        var installed: [any DispatchSourceProtocol] = []
        for number in Self.handledSignals {
            let stops = number == SIGTERM || number == SIGINT
            let source = DispatchSource.makeSignalSource(signal: number, queue: stops ? stopQueue : signalQueue)
            source.setEventHandler { @Sendable [weak self] in
                guard let self else { return }
                if !stops, isStopping {
                    logger.info("\(number == SIGHUP ? "SIGHUP" : "SIGUSR1") ignored: overdued is stopping")
                    return
                }
                switch number {
                case SIGHUP: reload()
                case SIGUSR1:
                    // Not an event of its own: the tick it starts logs event=tick.
                    if tickLoop.withLock({ $0 })?.tickNow() == true {
                        logger.info("SIGUSR1: checking now")
                    } else {
                        logger.debug("SIGUSR1: a check is already asked for")
                    }
                default: requestStop()
                }
            }
            source.resume()
            installed.append(source)
        }
        let kept = installed.map(KeptSource.init)
        sources.withLock { $0 += kept }
    }

    /// From any queue: no new tick, the running one interrupted (it writes nothing), no new
    /// delivery started; `run()` then lets requests in flight finish and returns.
    func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        tickLoop.withLock { $0 }?.stopping()
        progress.interrupt()
        notifier.stopTakingWork()
        resumeStop()
    }

    var isStopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

    func resumeStop() {
        let continuation = stopSignal.withLock { waiting -> CheckedContinuation<Void, Never>? in
            defer { waiting = nil }
            return waiting
        }
        continuation?.resume()
    }
}
