import ArgumentParser
import Foundation
import Notifier
import OverduedConfig
import Scheduler
import Store
import TimeZoneRules

/// `overdued check-config`: everything `run` would check before starting, and the query
/// plan of each rule, without changing anything.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the config: keys, durations, zones, rules, destinations, secret files, databases."
    )

    @OptionGroup var options: ConfigOption

    /// The state database's path under the unit (`StateDirectory=overdued`).
    static let serviceStateDatabase = "/var/lib/overdued/state.sqlite"

    func run() throws {
        let config = try loadConfig(options, stateFolderMayBeMissing: true)
        var problems: [String] = []
        var warnings: [String] = []
        var tickets: TicketsDatabase?
        do {
            tickets = try TicketsDatabase(path: config.store.ticketsDatabase, busyTimeout: config.store.busyTimeout)
        } catch {
            problems.append("store.tickets_database: \(error.message) (\(error.path))")
        }
        let stateFolder = (config.store.stateDatabase as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: stateFolder) {
            // Before the service's first start, systemd has not created its state folder yet.
            let message = "the folder \(stateFolder) does not exist"
            if config.store.stateDatabase == Self.serviceStateDatabase {
                warnings.append("store.state_database: \(message) yet: the unit's StateDirectory= creates it at the first start; "
                    + "overdued run by hand before then (scan, once, import-legacy) needs it: install -d -m 0700 \(stateFolder)")
            } else {
                problems.append("store.state_database: \(message); create it or choose another path")
            }
        } else if let problem = StateDatabaseCheck.problem(path: config.store.stateDatabase, busyTimeout: config.store.busyTimeout) {
            problems.append("store.state_database: \(problem)")
        } else if let warning = StateDatabaseCheck.warning(path: config.store.stateDatabase) {
            warnings.append("store.state_database: \(warning)")
        }
        guard problems.isEmpty, let tickets else {
            printError("\(config.sourcePath): \(problems.count == 1 ? "1 problem" : "\(problems.count) problems")\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n"))
            throw ExitCode(1)
        }
        print("\(config.sourcePath): valid")
        print("  tickets database: \(config.store.ticketsDatabase) (read-only, zone \(config.store.timeZoneName)\(zoneSource(config.store.timeZone)))")
        print("  state database:   \(config.store.stateDatabase)\(Self.upgradeNote(config.store.stateDatabase, busyTimeout: config.store.busyTimeout))")
        print("  schedule:         every \(DurationText.format(config.schedule.interval))\(config.schedule.align ? ", aligned to the clock" : "")")
        for rule in config.rules {
            let filter = RuleQuery.filter(for: rule.match, now: .now, schema: tickets.schema)
            let plan = (try? tickets.queryPlan(where: filter)) ?? []
            print("  rule \(rule.name) → \(rule.destinations.joined(separator: ", "))")
            for step in plan { print("      plan: \(step)") }
        }
        for destination in config.destinations {
            var signed = destination.signingSecret == nil ? "" : ", signed"
            if let trusted = destination.tls?.trustedCertificates { signed += ", trusting only \(trusted.path)" }
            if let certificate = destination.tls?.clientCertificate { signed += ", client certificate \(certificate.path)" }
            if let proxy = destination.proxy { signed += ", through the proxy \(proxy.redacted)" }
            print("  destination \(destination.name): \(destination.redactedURL) (\(Self.formatName(destination.format))\(signed), min_interval \(DurationText.format(destination.minInterval)), concurrency \(destination.concurrency))")
        }
        warnings += config.warnings.map(\.description) + DestinationTLS.validityWarnings(config.destinations, now: Date())
        if let missing = tickets.schema.missingIndexes { warnings.append("store.tickets_database: \(missing)") }
        for destination in config.destinations where destination.proxy != nil && destination.tunnelPort != 443 {
            let port = destination.tunnelPort
            warnings.append("destinations.\(destination.name).proxy_url: requests go through the proxy in a CONNECT tunnel to port \(port); "
                + "many proxies allow CONNECT to port 443 only (squid: http_access deny CONNECT !SSL_ports): "
                + "if send-test says the proxy refused the tunnel, allow port \(port) there")
        }
        for warning in warnings + Self.spellingWarnings(config.rules, tickets) {
            printError("warning: \(warning)")
        }
    }

    /// Listed statuses and priorities that the tickets spell differently (warnings: the
    /// config is valid, but those tickets are never selected).
    static func spellingWarnings(_ rules: [RuleSpec], _ tickets: TicketsDatabase) -> [String] {
        var listed: Set<TicketColumn> = []
        for rule in rules {
            if rule.match.statusIn != nil || rule.match.statusNotIn != nil { listed.insert(.status) }
            if rule.match.priorityIn != nil { listed.insert(.priority) }
        }
        var counts: [TicketColumn: [TicketColumn.ValueCount]] = [:]
        var warnings: [String] = []
        for column in TicketColumn.allCases where listed.contains(column) {
            do {
                counts[column] = try tickets.valueCounts(of: column)
            } catch {
                warnings.append("store.tickets_database: could not check how the tickets spell their \(column.plural): \(error.message)")
            }
        }
        return warnings + ListedValueSpelling.warnings(rules: rules, counts: counts)
    }

    /// What the next start does to an earlier release's state database, which no earlier
    /// release can open afterwards: said before the restart that does it.
    static func upgradeNote(_ path: String, busyTimeout: Duration) -> String {
        guard let missing = try? StateDatabaseCheck.missingMigrations(path: path, busyTimeout: busyTimeout),
              !missing.isEmpty, missing.count < StateDatabaseCheck.migrationCount else { return "" }
        return " (written by an earlier release: the next start upgrades it, \(missing.count) migration(s) from \"\(missing[0])\"; "
            + "earlier releases cannot open it afterwards, and a large file takes minutes and free space of twice its size: "
            + "back it up first, docs/systemd.md, \"Upgrading\")"
    }

    static func formatName(_ format: PayloadFormat) -> String {
        switch format {
        case .standard: "standard"
        case .legacy: "legacy"
        case .template(let path, _): "template \(path)"
        }
    }
}

/// Where the zone's rules come from, for the summary: the system's file and its tzdata
/// release, or the built-in data (also a warning).
private func zoneSource(_ zone: ZoneRules) -> String {
    switch zone.source {
    case .utc: return ""
    case .system(let path): return ", rules from \(path)" + (ZoneRules.systemVersion().map { " (tzdata \($0))" } ?? "")
    case .builtIn: return ", rules built into overdued"
    }
}
