import ArgumentParser
import Foundation
import Logging
import Notifier
import OverduedConfig
import Store

/// `overdued send-test`: POSTs a clearly marked test payload to a destination and reports
/// the status and latency; records nothing.
struct SendTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-test",
        abstract: "POST a test payload to a destination and report status and latency."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: "The destination (default: every destination).")
    var destination: String?

    func run() async throws {
        // It records nothing: the state database's folder need not exist yet (before the
        // unit's first start, /var/lib/overdued does not), and none is created.
        let config = try loadConfig(options, requiresTicketsDatabase: false, stateFolderMayBeMissing: true)
        LogSetup.bootstrap(config.log, forceStderr: true)
        var targets = config.destinations
        if let destination {
            guard let spec = config.destination(named: destination) else {
                printError("no destination named \(destination); defined: \(config.destinations.map(\.name).joined(separator: ", "))")
                throw ExitCode(1)
            }
            targets = [spec]
        }
        guard !targets.isEmpty else {
            printError("the config defines no destination")
            throw ExitCode(1)
        }
        // The notifier needs an outbox; a test send writes nothing to it: one in a scratch folder.
        let scratch = try DryRunScratch.make()
        defer { DryRunScratch.remove(scratch) }
        let outbox: Outbox
        do {
            outbox = Outbox(database: try StateDatabase(path: scratch + "/state.sqlite", busyTimeout: config.store.busyTimeout))
        } catch {
            printError("cannot make a scratch state database in \(scratch): \(error.description)")
            throw ExitCode(1)
        }
        let notifier = Notifier(outbox: outbox, destinations: targets, userAgentVersion: Overdued.version,
                                logger: Logger(label: "overdued"))
        var failed = false
        for spec in targets {
            let result = await notifier.sendTest(destination: spec)
            let outcome = result.httpStatus.map { "HTTP \($0)" } ?? "no response (\(result.error ?? "unknown error"))"
            print("\(spec.name) (\(spec.redactedURL)): \(outcome) in \(result.latency.milliseconds) ms, webhook-id \(result.notificationID)")
            if let body = result.printableResponse(limit: 200), !body.isEmpty { print("  response: \(body)") }
            failed = failed || !result.succeeded
        }
        await notifier.shutdown(grace: .seconds(1))
        if failed { throw ExitCode(1) }
    }

}
