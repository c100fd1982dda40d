import ArgumentParser
import Dispatch
import Foundation
import Notifier
import OverduedConfig
import Synchronization

/// `overdued sink`: a local webhook receiver for trying a setup (like `stripe listen`).
struct SinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "Receive webhooks on a local port and print each one (verifying signatures when given the secret)."
    )

    @Option(help: ArgumentHelp("Address to listen on; port 0 picks any free one (default: 127.0.0.1:8787).", valueName: "host:port"), transform: ListenAddress.parse)
    var listen = ListenAddress(host: "127.0.0.1", port: 8787)

    @Option(help: ArgumentHelp("File holding the whsec_ signing secret; signatures are then verified.", valueName: "path"))
    var signingSecretFile: String?

    @Flag(help: "Print one compact line per webhook instead of the pretty-printed body.")
    var compact = false

    func run() async throws {
        let (host, port) = (listen.host, listen.port)
        var secret: String?
        if let signingSecretFile {
            do {
                secret = try String(contentsOfFile: signingSecretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                printError("cannot read --signing-secret-file \(signingSecretFile): \(ConfigLoader.reason(error, reading: signingSecretFile))")
                throw ExitCode(1)
            }
            if let secret, WebhookSignature(secret: secret) == nil {
                printError("--signing-secret-file \(signingSecretFile): the signing secret is not \"whsec_\" followed by base64")
                throw ExitCode(1)
            }
        }
        // Heard from here on: a SIGTERM sent as soon as the "listening" line is read (a script,
        // a test) used to come before the handlers, and the sink ran on.
        let interrupt = InterruptSignal()
        let pretty = !compact
        let sink: WebhookSink
        do {
            sink = try WebhookSink(host: host, port: port, signingSecret: secret) { delivery in
                let text = delivery.formatted(pretty: pretty) + "\n"
                // What the sink is for: a delivery it cannot show (a full disk, the reader of
                // its pipe gone) ends it, said on stderr, rather than answering 200 unseen.
                if !StandardStreams.write(text) {
                    printError("overdued sink: cannot write a delivery to standard output: \(String(cString: strerror(errno))); stopping")
                    Foundation.exit(1)
                }
            }
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let bound: Int
        do {
            bound = try await sink.start()
        } catch {
            printError("cannot listen on \(listen): \(error)")
            throw ExitCode(1)
        }
        if let url = try? WebhookURL("http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/"), url.isPlainHTTPOffThisMachine {
            printError("warning: \(host) is not a loopback address: other machines can reach this sink, and what they send is printed here"
                + (secret == nil ? " and answered 200 (no --signing-secret-file)" : "") + "; the payloads (ticket data) travel unencrypted")
        }
        printError("overdued sink listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/ \(secret == nil ? "(signatures not checked)" : "(verifying signatures)"); Ctrl-C to stop")
        await interrupt.wait()
        await sink.stop()
    }
}

/// `--listen host:port`; `[::1]:8787` for an IPv6 address.
struct ListenAddress: CustomStringConvertible {
    let host: String
    let port: Int

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func parse(_ argument: String) throws -> ListenAddress {
        guard let colon = argument.lastIndex(of: ":") else {
            throw Invalid(description: "expected host:port, e.g. 127.0.0.1:8787")
        }
        let host = String(argument[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let portText = argument[argument.index(after: colon)...]
        guard !host.isEmpty else { throw Invalid(description: "the host is missing; expected host:port, e.g. 127.0.0.1:8787") }
        guard let port = Int(portText) else {
            throw Invalid(description: "the port \"\(portText)\" is not a number; expected host:port, e.g. 127.0.0.1:8787")
        }
        guard (0...65_535).contains(port) else {
            throw Invalid(description: "the port \(port) is out of range: a port is 1 to 65535 (0 picks any free port)")
        }
        return ListenAddress(host: host, port: port)
    }
}

/// SIGINT or SIGTERM, heard from its creation on (both are ignored by the process, and
/// delivered to dispatch sources instead); `wait()` returns once one came, before or after.
final class InterruptSignal: Sendable {
    private struct State {
        var arrived = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    init() {
        let queue = DispatchQueue(label: "overdued.sink.signals")
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { @Sendable [self] in arrived() }
            source.resume()
            SignalSourceKeeper.keep(source)
        }
    }

    private func arrived() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.arrived = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.arrived { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// Keeps signal sources alive for the life of the process: one released before its signal
/// arrives never fires (the signal itself is ignored), and the sink would not stop.
enum SignalSourceKeeper {
    /// A dispatch source, which libdispatch lets any thread hold (the Swift overlay does not
    /// say `Sendable`): only kept, never used from here.
    private struct Kept: @unchecked Sendable {
        let source: any DispatchSourceProtocol
    }

    private static let sources = Mutex<[Kept]>([])

    static func keep(_ source: any DispatchSourceProtocol) {
        let kept = Kept(source: source)
        sources.withLock { $0.append(kept) }
    }
}
