import ArgumentParser
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Systemd
import TimeZoneRules

/// Loads and validates the config, or prints every problem and exits 1.
/// - Parameter requiresTicketsDatabase: false for the commands that read only the state
///   database (see `ConfigLoader.requiresTicketsDatabase`).
func loadConfig(_ option: ConfigOption, requiresTicketsDatabase: Bool = true, readsSecrets: Bool = true,
                stateFolderMayBeMissing: Bool = false) throws -> Config {
    let path = ConfigLoader.defaultPath(explicit: option.config)
    do {
        var loader = configLoader(requiresTicketsDatabase: requiresTicketsDatabase)
        loader.readsSecrets = readsSecrets
        loader.stateFolderMayBeMissing = stateFolderMayBeMissing
        return try loader.load(path: path)
    } catch {
        printError(error.description)
        throw ExitCode(1)
    }
}

/// The config loader every command uses: with the Notifier's template check.
func configLoader(requiresTicketsDatabase: Bool = true) -> ConfigLoader {
    ConfigLoader(templateProblem: { source, path in TemplatePayload.problem(source: source, path: path) },
                 tlsProblems: { DestinationTLS.problems($0) },
                 requiresTicketsDatabase: requiresTicketsDatabase)
}
