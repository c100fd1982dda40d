import ArgumentParser
import Foundation
import Notifier
import OverduedConfig
import Scheduler
import Store
import TextEscaping

/// `overdued queue resume NAME`: ends a receiver's `Retry-After` pause before its time (the
/// receiver is known to be back, or asked for far too long). A restart does not end one.
struct QueueResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "End the wait a destination's receiver asked for (429/503 with Retry-After), or the hour's wait after its answers crashed overdued, now.")

    @OptionGroup var options: ConfigOption

    @Argument(help: "The destination's name.")
    var destination: String

    func run() throws {
        let config = try loadConfig(options, requiresTicketsDatabase: false, readsSecrets: false, stateFolderMayBeMissing: true)
        // A destination taken out of the config may still have its pause recorded: that one
        // can be ended; any other unknown name is a typo, and says so.
        let notPaused = config.destination(named: destination) == nil
            ? "no destination named \(destination); defined: \(config.destinations.map(\.name).joined(separator: ", "))"
            : "\(destination) is not paused by its receiver (see `overdued queue`)"
        guard try stateDatabaseExists(config) else {
            printError(notPaused)
            throw ExitCode(1)
        }
        let stores = try OpenStateDatabase(config)
        do {
            guard let pause = try stores.outbox.receiverPause(destination: destination), pause.until > Date() else {
                printError(notPaused)
                throw ExitCode(1)
            }
            let due = try stores.outbox.resumeReceiver(destination: destination, now: Date())
            let crashed = pause.httpStatus == ReceiverPause.crashingAnswers
            let wait = crashed ? "the wait after its answers crashed overdued (until \(NotificationTable.iso(pause.until)))"
                : "the wait its receiver asked for (until \(NotificationTable.iso(pause.until)), HTTP \(pause.httpStatus))"
            let refused = crashed ? "" : "; \(due) notification(s) it refused are due now"
            print("\(destination): \(wait) is over\(refused); a running daemon sends to it again within "
                + DurationText.format(Notifier.receiverPauseResumeDelay))
        } catch let error as StoreError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
