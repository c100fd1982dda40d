import ArgumentParser
import CEarlySignals
import Foundation
import Daemon
import Logging
import OverduedConfig
import Systemd

/// `overdued run`: the daemon, until SIGTERM or SIGINT.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: tick loop and notifier, until SIGTERM or SIGINT (systemd: Type=notify)."
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        // A C constructor installed a handler before the runtime started that records SIGHUP,
        // SIGUSR1, SIGTERM and SIGINT until the daemon's Dispatch sources take over.
        precondition(overdued_early_signal_guard_installed() == 1, "overdued run started without its start-up signal guard")
        let path = ConfigLoader.defaultPath(explicit: options.config)
        // The tickets database may not be there yet: the daemon starts, and skips ticks until
        // it is (check-config still requires it).
        let loader = configLoader(requiresTicketsDatabase: false)
        let config: Config
        do {
            config = try loader.load(path: path)
        } catch {
            // Under systemd, one record (critical, EVENT=stop) like any other reason the daemon
            // cannot start, not a line of plain text per problem; on a terminal, the text.
            if JournalStream.stderrIsJournal() {
                LogSetup.bootstrap(nil)
                Logger(label: "overdued").critical("cannot start: \(error.description)", metadata: ["event": "stop"])
            } else {
                printError(error.description)
            }
            throw ExitCode(1)
        }
        LogSetup.bootstrap(config.log)
        let logger = Logger(label: "overdued")
        OpenFilesLimit.raise(for: config, logger: logger)
        var started: Daemon?
        var waitedForSpace = false
        // The start's own messages while it waits for space (the daemon has its own afterwards).
        let manager = SystemdNotifications(logger: logger)
        while started == nil {
            do {
                started = try Daemon(config: config, loader: loader, levels: LogSetup.level,
                                 version: Overdued.version, logger: logger)
            } catch where error.fileSystemFull {
                // Exiting would be restarted within seconds, five times, and leave the unit
                // failed: freeing space would then start nothing. The start waits instead, in
                // `systemctl status` ("activating", with why), until there is space or a stop.
                if !waitedForSpace {
                    logger.error("cannot start yet: \(error.description); waiting for free space (tried again every 5 s; a stop ends the wait)",
                                 metadata: ["event": "start"])
                    waitedForSpace = true
                }
                manager.status("waiting for free space: \(error.description)")
                manager.extendTimeout(by: Self.spaceRetryInterval * 6)
                if Self.stopRequested(within: Self.spaceRetryInterval) {
                    logger.notice("stopped while waiting for free space", metadata: ["event": "stop"])
                    return
                }
            } catch {
                logger.critical("cannot start: \(error.description)", metadata: ["event": "stop"])
                throw ExitCode(1)
            }
        }
        guard let daemon = started else { throw ExitCode(1) }
        if waitedForSpace { logger.notice("there is space again: starting") }
        let outcome = await daemon.run(stopRequestedDuringStartUp: {
            // Dispatch registers its handlers asynchronously: until it has, a signal still
            // lands in the guard. Wait (briefly) for the hand-over, then read what it recorded.
            let deadline = ContinuousClock.now + .seconds(2)
            while overdued_early_signal_guard_replaced() == 0, ContinuousClock.now < deadline {
                usleep(1_000)
            }
            return overdued_early_signals_received() & (OVERDUED_EARLY_SIGTERM | OVERDUED_EARLY_SIGINT) != 0
        })
        if case .failed = outcome { throw ExitCode(1) }
    }

    /// How often a start waiting for free space tries again.
    static let spaceRetryInterval: Duration = .seconds(5)

    /// Waits up to `duration` for a SIGTERM or SIGINT, which the start-up guard records until
    /// the daemon's handlers take over; whether one came.
    static func stopRequested(within duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        repeat {
            if overdued_early_signals_received() & (OVERDUED_EARLY_SIGTERM | OVERDUED_EARLY_SIGINT) != 0 { return true }
            usleep(100_000)
        } while ContinuousClock.now < deadline
        return false
    }
}
