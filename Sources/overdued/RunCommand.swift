import ArgumentParser
import CEarlySignals
import Daemon
import Logging
import OverduedConfig

/// `overdued run`: the daemon, until SIGTERM or SIGINT.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: tick loop and notifier, until SIGTERM or SIGINT (systemd: Type=notify)."
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        // A SIGHUP arriving before the handlers exist must not kill us: the C constructor set
        // SIG_IGN before the runtime started; the rest are ignored from here until their
        // Dispatch sources take over.
        precondition(overdued_early_signals_ignored() == 1, "overdued run started without its early signal guard")
        Daemon.ignoreHandledSignals()
        let path = ConfigLoader.defaultPath(explicit: options.config)
        let loader = ConfigLoader()
        let config: Config
        do {
            config = try loader.load(path: path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        LogSetup.bootstrap(config.log)
        let logger = Logger(label: "overdued")
        let daemon: Daemon
        do {
            daemon = try Daemon(configPath: path, config: config, loader: loader, levels: LogSetup.level,
                                version: Overdued.version, logger: logger)
        } catch {
            logger.critical("cannot start: \(error.description)", metadata: ["event": "stop"])
            throw ExitCode(1)
        }
        await daemon.run()
    }
}
