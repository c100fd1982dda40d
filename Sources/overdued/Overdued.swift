import ArgumentParser
import Foundation

/// The `overdued` command line: argument parsing and wiring only; the work lives in the
/// Store, Scheduler, Notifier and Systemd modules.
@main
struct Overdued: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "overdued",
        abstract: "Notifies people about overdue maintenance tickets, by webhook, under systemd.",
        version: version,
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, ScanCommand.self, OnceCommand.self, HistoryCommand.self,
            QueueCommand.self, SendTestCommand.self, DemoCommand.self, SinkCommand.self, ImportLegacyCommand.self,
        ]
    )

    /// ArgumentParser's own `main`, with the output checked before the exit: a command whose
    /// output could not be written (`> /dev/full`) exits 1 instead of 0.
    static func main() async {
        StandardStreams.openNullOnClosed()
        // No core file: it would hold the secrets the config names (URLs, tokens, signing
        // keys). The unit sets LimitCORE=0 (and its filter refuses setrlimit); this covers
        // `once` from cron, `send-test`, ... The soft limit only, and not with
        // OVERDUED_CORE_DUMPS=1: someone debugging a crash can have a dump.
        var core = rlimit()
        if ProcessInfo.processInfo.environment["OVERDUED_CORE_DUMPS"] != "1",
           getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &core) == 0, core.rlim_cur != 0 {
            core.rlim_cur = 0
            setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &core)
        }
        var code = ExitCode.success
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == .success { print(message) } else { printError(message) }
            }
        }
        if !StandardStreams.flushOutput(), code == .success { code = .failure }
        Foundation.exit(code.rawValue)
    }
}

/// `--config PATH`, defaulting to `$OVERDUED_CONFIG`, then `/etc/overdued/config.json`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The config file.", discussion: "Default: $OVERDUED_CONFIG, then /etc/overdued/config.json.", valueName: "path"))
    var config: String?
}
