import ArgumentParser

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
}

/// `--config PATH`, defaulting to `$OVERDUED_CONFIG`, then `/etc/overdued/config.json`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The config file.", discussion: "Default: $OVERDUED_CONFIG, then /etc/overdued/config.json.", valueName: "path"))
    var config: String?
}
