import ArgumentParser
import Foundation
import OverduedConfig
import Store

/// `overdued demo`: a realistic tickets database and a config pointing at it and at
/// `overdued sink`, to try overdued (and to make benchmark data) without the real app.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Create a demo tickets database (1 % overdue) and a config for it."
    )

    @Option(help: ArgumentHelp("Folder to write into (created if missing).", valueName: "path"))
    var dir = "demo"

    // `.unconditional`: `--tickets -5` is a value to refuse with its reason, not a missing one.
    @Option(parsing: .unconditional, help: "How many tickets to create.")
    var tickets = 2_000

    @Option(help: ArgumentHelp("Where the demo destination (overdued sink) listens.", valueName: "host:port"))
    var sink = "127.0.0.1:8787"

    @Option(help: "IANA zone of the naive dates in the demo database.")
    var timezone = "America/Toronto"

    func validate() throws {
        guard tickets >= 1, tickets <= 50_000_000 else { throw ValidationError("--tickets must be between 1 and 50000000") }
        // An empty name would be the current folder, filled with the demo's files.
        guard !dir.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--dir must name a folder (\"\" would write into the current one)") }
        // The zone goes into the config it writes: what store.timezone refuses (a fixed offset
        // such as Etc/GMT+12) is refused here already.
        guard ConfigLoader.zoneRules(timezone) != nil else {
            throw ValidationError("--timezone \(timezone) is not an IANA zone with its daylight-saving rules (such as America/Toronto or UTC)")
        }
        _ = try Self.sinkAddress(sink)
    }

    /// `--sink` as `overdued sink --listen` takes it, and as a URL's host and port can hold it:
    /// the config written and the commands printed must work as they are.
    static func sinkAddress(_ argument: String) throws -> ListenAddress {
        let address: ListenAddress
        do {
            address = try ListenAddress.parse(argument)
        } catch {
            throw ValidationError("--sink \(argument): \(error)")
        }
        guard address.port > 0 else { throw ValidationError("--sink \(argument): the config needs a port of its own, 1 to 65535") }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-:"))
        guard address.host.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw ValidationError("--sink \(argument): the host must be a name or an IP address (letters, digits, '.', '-', ':')")
        }
        return address
    }

    func run() throws {
        let folder = URL(fileURLWithPath: dir).standardizedFileURL.path
        do {
            // Modes set, not left to the umask (000 made every file writable by every user).
            if !FileManager.default.fileExists(atPath: folder) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            }
        } catch {
            printError("cannot create \(folder): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let databasePath = folder + "/tickets.sqlite"
        let configPath = folder + "/config.json"
        let secretPath = folder + "/signing-secret"
        for path in [configPath, secretPath] where FileManager.default.fileExists(atPath: path) || Self.isLink(path) {
            printError("\(path) already exists; overdued demo never overwrites (remove the folder or choose another --dir)")
            throw ExitCode(1)
        }
        // The config it writes would use it: the queue and history of other tickets.
        let statePath = folder + "/state.sqlite"
        if FileManager.default.fileExists(atPath: statePath) || Self.isLink(statePath) {
            printError("\(statePath) already exists: the queue and history of an earlier demo, which the new config would use "
                + "for other tickets; remove it (with its -wal and -shm) or choose another --dir")
            throw ExitCode(1)
        }
        let sinkAddress = try Self.sinkAddress(sink).description
        let zone = ConfigLoader.zoneRules(timezone) ?? .utc
        let started = Date()
        let summary: DemoTickets.Summary
        do {
            summary = try DemoTickets(ticketCount: tickets, now: started, timeZone: zone).write(to: databasePath)
            chmod(databasePath, 0o644)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let secret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let config = DemoConfig.text(timezone: timezone, sink: sinkAddress)
        do {
            try Self.create(secretPath, contents: secret + "\n", mode: 0o600)
            try Self.create(configPath, contents: config, mode: 0o644)
        } catch {
            printError("cannot write the demo config in \(folder): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let seconds = Date().timeIntervalSince(started)
        print("""
            wrote \(databasePath): \(summary.tickets) tickets (\(summary.overdueByOldRule) overdue by the old rule, \
            \(summary.softDeleted) soft-deleted, \(summary.unreadableDates) with unreadable dates) in \(String(format: "%.1f", seconds)) s
            wrote \(configPath) (destination: overdued sink on \(sinkAddress), signed with \(secretPath))
            next:
              overdued sink --listen \(sinkAddress) --signing-secret-file \(secretPath) &
              overdued scan --config \(configPath) --dry-run
              overdued once --config \(configPath)
            """)
    }
}

extension DemoCommand {
    static func isLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// A new file with exactly `mode` (the umask neither widens nor narrows it; a secret is
    /// at no moment readable by others), never through a link or over an existing file.
    static func create(_ path: String, contents: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        guard fchmod(descriptor, mode) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(contents.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}

enum DemoConfig {
    static func text(timezone: String, sink: String) -> String {
        """
        {
          "store": {
            "tickets_database": "tickets.sqlite",
            "state_database": "state.sqlite",
            "timezone": "\(timezone)"
          },
          "schedule": { "interval": "5m", "align": true },
          "rules": [
            {
              "name": "overdue-assigned",
              "match": { "status_in": ["received", "diagnostic"], "assigned": true },
              "repeat": { "every": "24h", "on_change": ["assigned_to", "scheduled_date"] },
              "destinations": ["sink"]
            }
          ],
          "destinations": {
            "sink": {
              "url": "http://\(sink)/hooks/overdue",
              "format": "legacy",
              "signing_secret_file": "signing-secret",
              "min_interval": "200ms",
              "timeout": "10s"
            }
          },
          "log": { "level": "info", "target": "auto" }
        }

        """
    }
}
