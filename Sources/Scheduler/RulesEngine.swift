public import Foundation
public import OverduedConfig
public import Store

/// A ticket that a rule selects, with what the scan decided about it.
public struct RuleMatch: Sendable, Equatable {
    public var rule: String
    public var ticket: TicketSnapshot
    public var overdueSeconds: Int
    public var decision: DedupDecision
    /// Destinations that get a new notification (empty when suppressed).
    public var destinations: [String]

    public var isEnqueued: Bool { decision.shouldNotify && !destinations.isEmpty }
}

/// A row the engine could not read; it is skipped and reported once per scan.
public struct BadRow: Sendable, Equatable, CustomStringConvertible {
    public var ticket: Int64
    public var ticketID: String?
    public var problem: String

    public var description: String {
        "ticket \(ticket)\(ticketID.map { " (\($0))" } ?? ""): \(problem)"
    }
}

/// The result of evaluating every rule once.
public struct ScanReport: Sendable {
    public var now: Date
    public var matches: [RuleMatch] = []
    public var badRows: [BadRow] = []
    /// What a committing scan writes: the new notifications and the dedup state, together.
    public var notifications: [OverdueNotification] = []
    public var dedupRecords: [DedupRecord] = []

    public var enqueuedCount: Int { notifications.count }
}

/// Evaluates rules against the tickets database: one indexed query per rule, then date
/// parsing, the overdue test and the dedup decision in Swift.
public struct RulesEngine: Sendable {
    public var rules: [RuleSpec]
    public var timeZone: TimeZone

    public init(rules: [RuleSpec], timeZone: TimeZone) {
        self.rules = rules
        self.timeZone = timeZone
    }

    /// Reads tickets and dedup state; writes nothing. Commit with `Outbox.enqueue`.
    public func scan(tickets: TicketsDatabase, outbox: Outbox, now: Date) throws(StoreError) -> ScanReport {
        var report = ScanReport(now: now)
        var warned: Set<Int64> = []
        for rule in rules {
            let filter = RuleQuery.filter(for: rule.match, now: now, schema: tickets.schema)
            let records = try tickets.tickets(where: filter)
            let candidates = records.map(\.id)
            let previous = try outbox.dedupRecords(rule: rule.name, tickets: candidates)
            let open = try outbox.openNotifications(rule: rule.name, tickets: candidates)
            let result = Self.evaluate(rule: rule, records: records, previous: previous, open: open, now: now, zone: timeZone)
            report.matches += result.matches
            for bad in result.badRows where warned.insert(bad.ticket).inserted {
                report.badRows.append(bad)
            }
        }
        for match in report.matches where match.isEnqueued {
            let snapshot = match.ticket.encoded()
            for destination in match.destinations {
                report.notifications.append(OverdueNotification(
                    id: OverdueNotification.newID(), rule: match.rule, ticket: match.ticket.ticket,
                    ticketID: match.ticket.ticketID, destination: destination, snapshot: snapshot, createdAt: now))
            }
            report.dedupRecords.append(DedupDecision.record(rule: match.rule, ticket: match.ticket, at: now))
        }
        return report
    }

    /// The pure part of a scan for one rule: which rows are overdue, which are unreadable,
    /// and what dedup says about each overdue one.
    public static func evaluate(rule: RuleSpec, records: [TicketRecord], previous: [Int64: DedupRecord],
                                open: Set<Outbox.OpenKey>, now: Date, zone: TimeZone) -> (matches: [RuleMatch], badRows: [BadRow]) {
        var matches: [RuleMatch] = []
        var badRows: [BadRow] = []
        for record in records {
            let dueAt: Date
            switch ScheduledDate.parse(record.scheduledDate, in: zone) {
            case .absent:
                continue
            case .unparseable(let raw):
                badRows.append(BadRow(ticket: record.id, ticketID: record.ticketID,
                                      problem: "scheduled_date \(Self.quoted(raw)) is not a date overdued can read; row skipped"))
                continue
            case .instant(let date):
                dueAt = date
            }
            let overdue = now.timeIntervalSince(dueAt) - rule.match.grace.seconds
            guard overdue > 0 else { continue }
            var ticketID = record.ticketID?.trimmedASCIIWhitespace ?? ""
            if ticketID.isEmpty {
                ticketID = "#\(record.id)"
                badRows.append(BadRow(ticket: record.id, ticketID: nil, problem: "ticket_id is empty; notified as \(ticketID)"))
            }
            let snapshot = TicketSnapshot(
                rule: rule.name, ticket: record.id, ticketID: ticketID, title: record.title ?? "",
                description: record.description ?? "", status: record.status ?? "", priority: record.priority ?? "",
                machine: record.machineID == nil && record.machineType == nil ? nil : TicketSnapshot.Machine(
                    id: record.machineID, type: record.machineType, model: record.machineModel, location: record.machineLocation),
                assignedTo: record.assignedTo, assigneeName: record.assigneeName, reportedBy: record.reportedBy,
                reporterName: record.reporterName, createdAt: record.createdAt, scheduledDate: record.scheduledDate ?? "",
                dueAt: dueAt, isMachineDown: record.isMachineDown, detectedAt: now)
            var decision = DedupDecision.decide(policy: rule.repeatPolicy, ticket: snapshot, previous: previous[record.id], now: now)
            var destinations: [String] = []
            if decision.shouldNotify {
                destinations = rule.destinations.filter { !open.contains(Outbox.OpenKey(ticket: record.id, destination: $0)) }
                if destinations.isEmpty {
                    decision = .suppress(reason: "a notification of this ticket by this rule is still queued")
                }
            }
            matches.append(RuleMatch(rule: rule.name, ticket: snapshot, overdueSeconds: Int(now.timeIntervalSince(dueAt)),
                                     decision: decision, destinations: destinations))
        }
        return (matches, badRows)
    }

    /// A stored value quoted for a message, with control characters escaped and length cut.
    static func quoted(_ raw: String) -> String {
        let shown = raw.count > 60 ? String(raw.prefix(60)) + "…" : raw
        return "\"" + shown.unicodeScalars.map { $0.value < 32 || $0 == "\"" ? $0.escaped(asASCII: true) : String($0) }.joined() + "\""
    }
}
