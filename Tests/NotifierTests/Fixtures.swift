import Foundation
import Logging
@testable import Notifier
import OverduedConfig
import Store
import Synchronization
import TestSupport

/// The folders `Fixtures.temporaryDirectory` made, removed when the test process exits (the
/// tests hold only their URLs; thousands were left behind in /tmp).
private let madeFolders = Mutex<[URL]?>(nil)

/// Temp folders, a real state database, destinations and snapshots for the tests.
enum Fixtures {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("notifier-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let first = madeFolders.withLock { folders -> Bool in
            defer { folders = (folders ?? []) + [url] }
            return folders == nil
        }
        if first {
            atexit {
                for folder in madeFolders.withLock({ $0 ?? [] }) { try? FileManager.default.removeItem(at: folder) }
            }
        }
        return url
    }

    /// An outbox in a fresh state database.
    static func outbox() throws -> Outbox {
        let directory = try temporaryDirectory()
        return Outbox(database: try StateDatabase(path: directory.appendingPathComponent("state.sqlite").path))
    }

    struct ConfigFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// `DestinationSpec` has no public initializer: a destination is made the way the daemon
    /// makes it, by loading a config, then adjusted.
    static func destination(name: String = "hook", url: String, format: String = "\"standard\"",
                            minInterval: String = "0ms", concurrency: Int = 1, timeout: String = "2s",
                            maxAttempts: Int? = nil, initialBackoff: String = "10ms", maxBackoff: String = "20ms",
                            giveUpAfter: String = "1h", signingSecret: String? = nil,
                            headers: [String: String] = [:], tls: [String: Any]? = nil, extra: [String: String] = [:],
                            files: [String: String] = [:], environment: [String: String] = [:],
                            in folder: URL? = nil) throws -> DestinationSpec {
        let directory = try folder ?? temporaryDirectory()
        for (name, text) in files {
            let file = name.hasPrefix("/") ? URL(fileURLWithPath: name) : directory.appendingPathComponent(name)
            try Data(text.utf8).write(to: file)
        }
        try Data().write(to: directory.appendingPathComponent("tickets.sqlite"))
        var destination: [String: Any] = [
            "url": url, "min_interval": minInterval, "concurrency": concurrency, "timeout": timeout,
            "retry": ["initial_backoff": initialBackoff, "max_backoff": maxBackoff, "give_up_after": giveUpAfter]
                .merging(maxAttempts.map { ["max_attempts": $0] } ?? [:]) { a, _ in a },
        ]
        if !headers.isEmpty { destination["headers"] = headers }
        if let tls { destination["tls"] = tls }
        for (key, value) in extra { destination[key] = value }
        if let signingSecret {
            try Data((signingSecret + "\n").utf8).write(to: directory.appendingPathComponent("secret"))
            destination["signing_secret_file"] = "secret"
        }
        var text = String(decoding: try JSONSerialization.data(withJSONObject: [
            "store": ["tickets_database": "tickets.sqlite", "state_database": "state.sqlite"],
            "rules": [["name": "late", "match": ["status_in": ["received"]], "destinations": [name]]],
            "destinations": [name: destination],
        ] as [String: Any]), as: UTF8.self)
        // The format may be a JSON object ({"template": ...}): spliced in as text.
        text = text.replacingOccurrences(of: "\"min_interval\"", with: "\"format\":\(format),\"min_interval\"")
        do {
            let loader = ConfigLoader(environment: environment, tlsProblems: { DestinationTLS.problems($0) })
            let config = try loader.load(data: Data(text.utf8), path: directory.appendingPathComponent("config.json").path)
            guard let spec = config.destination(named: name) else { throw ConfigFailure(description: "no destination \(name)") }
            return spec
        } catch {
            throw ConfigFailure(description: "\(error)")
        }
    }

    static let dueAt = Date(timeIntervalSince1970: 1_795_000_000) // 2026-11-18T...

    static func snapshot(ticket: Int64 = 42, ticketID: String = "IGP-2026-0042", title: String = "Four n°3 : \"joint\" à changer",
                         machine: TicketSnapshot.Machine? = .init(id: 7, type: "Four", model: "Bystronic X1", location: "Atelier A"),
                         assignedTo: Int64? = 12, assigneeName: String? = "Marie Tremblay", reporterName: String? = "Luc Gagnon",
                         dueAt: Date = dueAt) -> TicketSnapshot {
        TicketSnapshot(rule: "late", ticket: ticket, ticketID: ticketID, title: title,
                       description: "Ligne 1\nLigne 2 — ✅ emoji", status: "received", priority: "high", machine: machine,
                       assignedTo: assignedTo, assigneeName: assigneeName, reportedBy: 3, reporterName: reporterName,
                       createdAt: "2026-11-01 08:00:00", scheduledDate: "2026-11-18 23:59:59", dueAt: dueAt,
                       isMachineDown: true, detectedAt: dueAt.addingTimeInterval(600))
    }

    /// Queues `count` notifications to `destination`, created now; returns their ids in order.
    @discardableResult
    static func enqueue(_ outbox: Outbox, destination: String, count: Int = 1, createdAt: Date = Date()) throws -> [String] {
        var notifications: [OverdueNotification] = []
        for index in 0..<count {
            let ticket = Int64(100 + index)
            let ticketID = "IGP-2026-\(1000 + index)"
            let created = createdAt.addingTimeInterval(Double(index) / 1000)
            notifications.append(OverdueNotification(
                id: OverdueNotification.newID(), rule: "late", ticket: ticket, ticketID: ticketID, destination: destination,
                snapshot: snapshot(ticket: ticket, ticketID: ticketID).encoded(), createdAt: created))
        }
        try outbox.enqueue(notifications, dedup: [])
        return notifications.map { $0.id }
    }

    /// A logger that keeps its records, to check what is (and is not) logged.
    static func capturingLogger() -> (Logger, LogCapture) {
        let capture = LogCapture()
        var logger = Logger(label: "test") { _ in CapturingHandler(capture: capture) }
        logger.logLevel = .trace
        return (logger, capture)
    }
}

final class LogCapture: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let records = Locked<[Record]>([])
    var all: [Record] { records.current }

    func append(_ record: Record) {
        records.withLock { $0.append(record) }
    }
}

struct CapturingHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        event.metadata?.forEach { all[$0.key] = $0.value }
        capture.append(.init(level: event.level, message: "\(event.message)",
                             metadata: all.mapValues { "\($0)" }))
    }
}
