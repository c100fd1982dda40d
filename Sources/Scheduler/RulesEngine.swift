public import Foundation
public import TimeZoneRules
public import OverduedConfig
public import Store
internal import TextEscaping

/// A ticket that a rule selected and found overdue: the fields dedup compares, read in the
/// tick's narrow first phase.
public struct MatchedTicket: Sendable, Equatable, DedupSubject {
    /// tickets.id
    public var ticket: Int64
    /// The human id, or `#<id>` when the row has none.
    public var ticketID: String
    public var status: String
    public var priority: String
    /// NULL: unassigned; 0: the whole team.
    public var assignedTo: Int64?
    /// As stored by the app.
    public var scheduledDate: String
    /// The instant `scheduledDate` denotes, read in `store.timezone`.
    public var dueAt: Date
}

/// A ticket that a rule selects, with what the scan decided about it.
public struct RuleMatch: Sendable, Equatable {
    public var rule: String
    public var ticket: MatchedTicket
    public var overdueSeconds: Int
    public var decision: DedupDecision
    /// Destinations that get a new notification (empty when suppressed).
    public var destinations: [String]
    /// The whole ticket with its joined fields (machine, names, title, description): read for
    /// every enqueued match, and for every match when the scan asks for `.all`.
    public var snapshot: TicketSnapshot? {
        get { snapshotStorage.first }
        set { snapshotStorage = newValue.map { [$0] } ?? [] }
    }
    /// Out of line (an array is one pointer, and an empty one allocates nothing): a quiet tick
    /// moves ten thousand matches that have no snapshot.
    private var snapshotStorage: [TicketSnapshot] = []

    public var isEnqueued: Bool { decision.shouldNotify && !destinations.isEmpty }
    /// When the ticket was last notified by the rule, as the decision found it (nil: never).
    public var previousNotifiedAt: Date?

    public init(rule: String, ticket: MatchedTicket, overdueSeconds: Int, decision: DedupDecision, destinations: [String]) {
        self.rule = rule
        self.ticket = ticket
        self.overdueSeconds = overdueSeconds
        self.decision = decision
        self.destinations = destinations
    }
}

/// A row the engine could not read as it is, reported once per scan: skipped, or (`skipped`
/// false) still matched with a stand-in for what it lacks.
public struct BadRow: Sendable, Equatable, CustomStringConvertible {
    public var ticket: Int64
    public var ticketID: String?
    public var problem: String
    /// False when the row is still matched (an empty `ticket_id`, notified as `#<id>`).
    public var skipped = true

    public init(ticket: Int64, ticketID: String?, problem: String, skipped: Bool = true) {
        self.ticket = ticket
        self.ticketID = ticketID
        self.problem = problem
        self.skipped = skipped
    }

    /// One line: the id and the problem quote the row's own text, escaped. A blank human id
    /// is left out; a long one is cut, as quoted values are.
    public var description: String {
        let shown = ticketID.flatMap { id -> String? in
            guard !id.trimmedASCIIWhitespace.isEmpty else { return nil }
            return id.count > 60 ? String(id.prefix(60)) + "…" : id
        }
        return PrintableText.escaped("ticket \(ticket)\(shown.map { " (\($0))" } ?? ""): \(problem)")
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
    /// Rules whose candidate rows came from the `TickCache` (the tickets database had not
    /// changed since they were read) rather than from a query.
    public var reusedQueries = 0
    /// Set when the tick's inputs were unchanged since this earlier evaluation, whose result
    /// (every match suppressed by dedup) was returned without reading anything.
    public var unchangedSince: Date?
    /// The state database's dedup generation, read before the dedup records the decisions
    /// rest on, and for each of `dedupRecords` the last notification the scan found (nil:
    /// none): the enqueue checks them (see `scanAndEnqueue`).
    public var dedupGeneration: Int64 = 0
    public var dedupExpectations: [Date?] = []

    public var enqueuedCount: Int { notifications.count }

    /// Queued notifications whose ticket no longer matches their rule (closed, rescheduled,
    /// reassigned, deleted since): `scanAndEnqueue` withdraws them, a dry run only lists
    /// them. After `scanAndEnqueue`, the ones it withdrew (one delivered meanwhile is not).
    public var withdrawals: [Withdrawal] = []
    /// The queue's end when the scan began (`Outbox.lastQueued`): only what was queued by
    /// then can be weighed against the ticket rows the scan read.
    var lastQueued: Int64 = 0

    /// The rules and tickets whose dedup memory was of another ticket under the same id (see
    /// `DedupDecision.Notify.anotherTicket`), notified now: `Outbox.enqueue` forgets it.
    var reusedIDs: Set<Outbox.DedupKey> {
        var keys: Set<Outbox.DedupKey> = []
        for match in matches where match.isEnqueued {
            guard case .notify(.anotherTicket) = match.decision else { continue }
            keys.insert(Outbox.DedupKey(rule: match.rule, ticket: match.ticket.ticket))
        }
        return keys
    }

    /// The notifications a change caused (not held back by an older one still queued, so
    /// possibly behind one): `Outbox.enqueue` lines their due time up with it.
    var changeNotificationIDs: [String] {
        var changed: Set<Outbox.DedupKey> = []
        for match in matches where match.isEnqueued && !match.decision.isHeldBackByQueued {
            changed.insert(Outbox.DedupKey(rule: match.rule, ticket: match.ticket.ticket))
        }
        guard !changed.isEmpty else { return [] }
        return notifications.filter { changed.contains(Outbox.DedupKey(rule: $0.rule, ticket: $0.ticket)) }.map(\.id)
    }

    /// Another process notified these tickets after this scan read their state: nothing of
    /// theirs was enqueued by this one.
    mutating func leaveOut(_ conflicts: Set<Outbox.DedupKey>) {
        func left(_ rule: String, _ ticket: Int64) -> Bool { conflicts.contains(Outbox.DedupKey(rule: rule, ticket: ticket)) }
        notifications.removeAll { left($0.rule, $0.ticket) }
        var kept: [DedupRecord] = [], expectations: [Date?] = []
        for (record, expected) in zip(dedupRecords, dedupExpectations) where !left(record.rule, record.ticket) {
            kept.append(record)
            expectations.append(expected)
        }
        (dedupRecords, dedupExpectations) = (kept, expectations)
        for index in matches.indices where matches[index].isEnqueued && left(matches[index].rule, matches[index].ticket.ticket) {
            matches[index].decision = .suppress(.notifiedMeanwhile)
            matches[index].destinations = []
        }
    }
}

/// A queued notification that its rule no longer selects, or whose rule is gone.
public struct Withdrawal: Sendable, Equatable {
    public enum Cause: Sendable, Equatable {
        /// The ticket (or the rule, by a reload) changed: the rule no longer selects it.
        case noLongerMatches
        /// The rule is not in the config any more (removed, or renamed).
        case ruleRemoved
        /// The rule no longer names the notification's destination (a reload took it out of
        /// `destinations`; the destination itself may still serve other rules).
        case destinationDropped
        /// The notification's destination is not in the config any more (removed, or
        /// renamed), and so no rule names it.
        case destinationRemoved
        /// Its ticket is gone, and another ticket has its `tickets.id` now (the app's database
        /// restored from a backup): what it says is of the lost one.
        case ticketReplaced

        /// For log lines and `scan`'s listing.
        public var text: String {
            switch self {
            case .noLongerMatches: "the rule no longer selects the ticket"
            case .ruleRemoved: "the rule is no longer in the config"
            case .destinationDropped: "the rule no longer sends to this destination"
            case .destinationRemoved: "the destination is no longer in the config"
            case .ticketReplaced: "another ticket has its ticket's id now"
            }
        }
    }

    public var rule: String
    public var notification: Outbox.Queued
    public var cause: Cause

    public init(rule: String, notification: Outbox.Queued, cause: Cause) {
        self.rule = rule
        self.notification = notification
        self.cause = cause
    }

    /// What the withdrawn notification's `last_error` says.
    public static func reason(rule: String, cause: Cause, at now: Date) -> String {
        // To the millisecond stored as `withdrawn_at`, in UTC like every time `history` shows.
        // (The formatter cuts, never rounds: a quarter millisecond keeps the stored one.)
        let milliseconds = (now.timeIntervalSince1970 * 1000).rounded()
        let when = Date(timeIntervalSince1970: (milliseconds + 0.25) / 1000).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        switch cause {
        case .noLongerMatches:
            return "withdrawn: rule \(rule) no longer selected the ticket at \(when) (closed, rescheduled, reassigned or deleted since it was queued, or the rule was changed)"
        case .ruleRemoved:
            return "withdrawn: rule \(rule) is no longer in the config (at \(when))"
        case .destinationDropped:
            return "withdrawn: rule \(rule) no longer names this destination in its destinations (at \(when))"
        case .destinationRemoved:
            return "withdrawn: the destination is no longer in the config, and rule \(rule) no longer names it (at \(when))"
        case .ticketReplaced:
            return "withdrawn: its ticket is gone, and another ticket has its id now (the app's database restored from a backup); "
                + "rule \(rule) notifies that one on its own (at \(when))"
        }
    }
}

/// Which matches a scan reads whole (joined rows, snapshots).
public enum ScanDetail: Sendable {
    /// Only the ones it enqueues: what a tick needs.
    case enqueued
    /// All of them: what `overdued scan --json` prints (each match's title).
    case all
}

/// Evaluates rules against the tickets database in two phases. Phase 1, per rule: one indexed
/// pass over the rule's rows of `tickets` (or the cached rows, while the database is
/// unchanged), keeping the narrow columns of each and decoding whole only the rows likely to
/// be notified; then date parsing, the overdue test and the dedup decision in Swift. Phase 2:
/// the whole rows still missing, by id, and the machine and user names of the matches that
/// are enqueued (or shown), which become the snapshots that payloads are rendered from. A
/// quiet tick (everything already notified) decodes no whole row.
public struct RulesEngine: Sendable {
    public var rules: [RuleSpec]
    public var timeZone: ZoneRules

    /// The destinations the config defines.
    public var destinations: Set<String>

    /// - Parameter destinations: the destinations the config defines (default: those its
    ///   rules name). A rule's notification queued for a destination the rule no longer names
    ///   is withdrawn: `.destinationDropped` when the config still defines it,
    ///   `.destinationRemoved` when it does not.
    public init(rules: [RuleSpec], timeZone: ZoneRules, destinations: Set<String>? = nil) {
        self.rules = rules
        self.timeZone = timeZone
        self.destinations = destinations ?? Set(rules.flatMap(\.destinations))
    }

    /// The engine of a config: its rules, its zone, and every destination it defines.
    public init(config: Config) {
        self.init(rules: config.rules, timeZone: config.store.timeZone, destinations: Set(config.destinations.map(\.name)))
    }

    /// `scan`, then its notifications and dedup records enqueued, except for the tickets
    /// another process notified after this scan read their dedup state (a `scan` run beside
    /// the daemon, say): those are reported as suppressed (`.notifiedMeanwhile`), the rest is
    /// enqueued. One pass, whatever the others do.
    public func scanAndEnqueue(tickets: TicketsDatabase, outbox: Outbox, now: Date, detail: ScanDetail = .enqueued,
                               cache: TickCache? = nil, progress: TickProgress? = nil, withdrawing: Bool = true) throws(StoreError) -> ScanReport {
        var report = try scan(tickets: tickets, outbox: outbox, now: now, detail: detail, cache: cache, progress: progress,
                              withdrawing: withdrawing)
        if !report.withdrawals.isEmpty {
            var withdrawn: Set<String> = []
            let groups = Dictionary(grouping: report.withdrawals) { "\($0.rule)\u{0}\($0.cause)" }
            for key in groups.keys.sorted() {
                guard let group = groups[key], let first = group.first else { continue }
                // A lost ticket's: its dedup state is not given back (the new ticket's record
                // replaces it in this enqueue, which would otherwise find it changed).
                withdrawn.formUnion(try outbox.withdraw(group.map(\.notification.id), at: now,
                                                        reason: Withdrawal.reason(rule: first.rule, cause: first.cause, at: now),
                                                        restoringDedup: first.cause != .ticketReplaced))
            }
            report.withdrawals.removeAll { !withdrawn.contains($0.notification.id) }
        }
        // Dated after now by a clock set back since: counted as notified now (see
        // `DedupDecision.Suppress.notifiedInTheFuture`). (A reused quiet result holds none.)
        let future = report.unchangedSince != nil ? [] : report.matches.compactMap { match -> Outbox.DedupKey? in
            guard case .suppress(.notifiedInTheFuture) = match.decision else { return nil }
            return Outbox.DedupKey(rule: match.rule, ticket: match.ticket.ticket)
        }
        try outbox.redateNotifiedInTheFuture(future, to: now, after: now.addingTimeInterval(DedupDecision.futureTolerance),
                                             queuedFor: destinations)
        if report.notifications.isEmpty, report.dedupRecords.isEmpty { return report }
        let expecting = Outbox.DedupExpectation(generation: report.dedupGeneration, lastNotified: report.dedupExpectations)
        let keeping = Set(rules.filter(\.repeatPolicy.oncePerScheduledDate).map(\.name))
        let conflicts = try outbox.enqueue(report.notifications, dedup: report.dedupRecords, expecting: expecting,
                                           mayQueueBehind: report.changeNotificationIDs, keepingDatesOf: keeping,
                                           forgetting: report.reusedIDs, progress: progress)
        if !conflicts.isEmpty { report.leaveOut(conflicts) }
        return report
    }

    /// Reads tickets and dedup state; writes nothing. Commit with `Outbox.enqueue`. With a
    /// cache (the daemon's ticks), unchanged inputs are not read again; see `TickCache`. With
    /// `progress`, each step is reported there and the scan stops (`.interrupted`) once it
    /// is interrupted; give the same object to the tickets database for its queries.
    /// - Parameter withdrawing: weigh the queue against what this scan reads (see
    ///   `ScanReport.withdrawals`). Only at the real clock: a scan at another instant (`--now`)
    ///   would find tickets that are overdue now not overdue then, and the reverse. It also
    ///   says whether `now` is the machine's clock to dedup (`DedupDecision.decide`).
    public func scan(tickets: TicketsDatabase, outbox: Outbox, now: Date, detail: ScanDetail = .enqueued,
                     cache: TickCache? = nil, progress: TickProgress? = nil, withdrawing: Bool = true) throws(StoreError) -> ScanReport {
        var report = ScanReport(now: now)
        let filters = rules.map { RuleQuery.filter(for: $0.match, now: now, schema: tickets.schema) }
        // Read before anything they vouch for: a commit racing the reads changes the next value.
        let inputs = try cache.map { _ throws(StoreError) in
            TickCache.Inputs(dataVersion: try tickets.dataVersion(), dedupGeneration: try outbox.dedupGeneration(),
                             filters: filters, zone: timeZone)
        }
        if let inputs {
            report.dedupGeneration = inputs.dedupGeneration
        } else {
            report.dedupGeneration = try outbox.dedupGeneration()
        }
        report.lastQueued = try outbox.lastQueued()
        if detail == .enqueued, let cache, let inputs, let quiet = cache.quiet(inputs: inputs, now: now) {
            report.matches = quiet.matches
            report.unchangedSince = quiet.evaluatedAt
            report.reusedQueries = rules.count
            return report
        }
        var warned: Set<Int64> = []
        var nextDue = Date.distantFuture
        var wholeRows: [Int64: TicketRecord] = [:]
        for (rule, filter) in zip(rules, filters) {
            try progress?.checkpoint()
            let candidates: [DatedCandidate]
            if let cache, let inputs, let rows = cache.rows(rule: rule.name, filter: filter, zone: timeZone, dataVersion: inputs.dataVersion) {
                candidates = rows
                report.reusedQueries += 1
            } else {
                candidates = try read(rule: rule, filter: filter, tickets: tickets, outbox: outbox, now: now, detail: detail,
                                      wholeRows: &wholeRows)
                if let inputs { cache?.store(candidates, rule: rule.name, filter: filter, zone: timeZone, dataVersion: inputs.dataVersion) }
            }
            try progress?.checkpoint()
            let overdue = Self.overdue(rule: rule, candidates: candidates, now: now)
            try progress?.checkpoint()
            nextDue = min(nextDue, overdue.nextDue)
            let ids = overdue.tickets.map(\.ticket)
            let previous = Self.respelled(try outbox.dedupRecords(rule: rule.name, tickets: ids), tickets: overdue.tickets, zone: timeZone)
            try progress?.checkpoint()
            var unnotified = false
            if rule.repeatPolicy.oncePerScheduledDate, overdue.tickets.count > previous.count {
                unnotified = try outbox.hasNotifiedDates(rule: rule.name)
            }
            let dates = try Self.notifiedDatesNeeded(rule: rule, tickets: overdue.tickets, previous: previous, unnotifiedToo: unnotified)
                .map { ids throws(StoreError) in
                    Self.respelled(try outbox.notifiedScheduledDates(rule: rule.name, tickets: ids), tickets: overdue.tickets, zone: timeZone)
                } ?? [:]
            var decided = Self.decide(rule: rule, tickets: overdue.tickets, previous: previous, notifiedDates: dates, now: now,
                                      atMachineClock: withdrawing)
            try progress?.checkpoint()
            // Only a ticket that dedup lets through for the time alone can be held back by a
            // notification still queued: the queue is read for those (none on a quiet tick).
            let repeating = decided.filter(\.decision.isHeldBackByQueued).map(\.ticket.ticket)
            Self.holdBack(&decided, open: try outbox.openNotifications(rule: rule.name, tickets: repeating))
            report.matches.append(contentsOf: decided)
            for bad in overdue.badRows where warned.insert(bad.ticket).inserted {
                report.badRows.append(bad)
            }
            if withdrawing {
                report.withdrawals += try queueOfLostTickets(rule: rule.name, decided: decided, outbox: outbox, upTo: report.lastQueued)
                let (withdrawn, unreadable) = try withdrawals(rule: rule, overdue: overdue, tickets: tickets, outbox: outbox,
                                                              upTo: report.lastQueued, now: now)
                report.withdrawals += withdrawn
                // A queued ticket whose row became unreadable outside the rule's read (a date
                // such as `2026-13-01` sorts after its bound): kept queued, and warned about.
                for bad in unreadable where warned.insert(bad.ticket).inserted {
                    report.badRows.append(bad)
                }
                // Queued for a destination the rule no longer names: not its route any more,
                // whether the config still defines it (for other rules) or not (removed, or
                // renamed: kept on hold, it held the rule's tickets back from the destinations
                // the rule names now, for as long as their repeat, or for ever).
                let dropped = try outbox.queued(rule: rule.name, outside: rule.destinations, upTo: report.lastQueued)
                let counted = Set(report.withdrawals.map(\.notification.id))
                report.withdrawals += try outbox.queued(rowids: dropped).filter { !counted.contains($0.id) }.map {
                    Withdrawal(rule: rule.name, notification: $0,
                               cause: destinations.contains($0.destination) ? .destinationDropped : .destinationRemoved)
                }
            }
        }
        if withdrawing { report.withdrawals += try withdrawalsOfRemovedRules(outbox: outbox, upTo: report.lastQueued) }
        try readSnapshots(into: &report, tickets: tickets, detail: detail, read: &wholeRows, progress: progress)
        // The snapshots hold what they need: the rows go now, not at the end of the scan (a
        // first scan may enqueue hundreds of thousands).
        wholeRows = [:]
        try makeNotifications(&report, detail: detail, now: now, progress: progress)
        if let cache, let inputs {
            // Withdrawals are writes still to make: the next tick with the same inputs must find
            // (and withdraw) them again if this one could not.
            let until = report.notifications.isEmpty && report.withdrawals.isEmpty ? Self.quietUntil(report.matches, nextDue: nextDue) : nil
            cache.setQuiet(until.map { TickCache.Quiet(inputs: inputs, until: $0, evaluatedAt: now, matches: report.matches) })
        }
        return report
    }

    /// The queued notifications of a rule whose ticket it no longer selects. The rule's read
    /// (`overdue`) is bounded by date and may leave out a row it cannot read (a garbage date
    /// under a rule without `status_in`): each ticket it does not find is read again by id,
    /// with the rule's conditions but no date bound, and kept when it is overdue or unreadable
    /// there (a bad row is no evidence either way). Gone, or selected no more: withdrawn.
    /// Also returns the rows found unreadable there, to be warned about.
    private func withdrawals(rule: RuleSpec, overdue: OverdueRead,
                             tickets: TicketsDatabase, outbox: Outbox, upTo lastQueued: Int64, now: Date) throws(StoreError)
        -> ([Withdrawal], [BadRow]) {
        let queued = try outbox.queuedTickets(rule: rule.name, upTo: lastQueued)
        var unseen = Self.unseen(queued, overdue: overdue)
        guard !unseen.isEmpty else { return ([], []) }
        let again = try readAgain(unseen.map(\.ticket), rule: rule, tickets: tickets, now: now)
        let standing = again.standing
        unseen.removeAll { standing.contains($0.ticket) }
        let withdrawn = try outbox.queued(rowids: unseen.map(\.rowid)).map { Withdrawal(rule: rule.name, notification: $0, cause: .noLongerMatches) }
        return (withdrawn, again.badRows)
    }

    /// What the rule queued for a ticket lost with a restore of the app's database, whose id
    /// another ticket has now (`.notify(.anotherTicket)`): weighed by the id alone, it stood,
    /// and went out describing the lost ticket ahead of the new one's. Read only when some
    /// ticket of the rule was decided so (none on an ordinary tick).
    private func queueOfLostTickets(rule: String, decided: [RuleMatch], outbox: Outbox, upTo lastQueued: Int64) throws(StoreError)
        -> [Withdrawal] {
        var current: [Int64: String] = [:]
        for match in decided {
            if case .notify(.anotherTicket) = match.decision { current[match.ticket.ticket] = match.ticket.ticketID }
        }
        guard !current.isEmpty else { return [] }
        let rowids = try outbox.queuedTickets(rule: rule, upTo: lastQueued).filter { current[$0.ticket] != nil }.map(\.rowid)
        return try outbox.queued(rowids: rowids).filter { queued in
            current[queued.ticket].map { DedupDecision.namesAnotherTicket(queued.ticketID, $0, id: queued.ticket) } ?? false
        }.map { Withdrawal(rule: rule, notification: $0, cause: .ticketReplaced) }
    }

    /// Of these tickets, those the rule selects now: overdue, or unreadable (a bad row is no
    /// evidence either way). Read by id, with the rule's conditions but no date bound: what a
    /// tick's withdrawal keeps queued, and what `queue retry` requeues.
    public func standing(_ ids: [Int64], rule: RuleSpec, tickets: TicketsDatabase, now: Date) throws(StoreError) -> Set<Int64> {
        let again = try readAgain(ids, rule: rule, tickets: tickets, now: now)
        return again.standing
    }

    /// These tickets read by id with the rule's conditions but no date bound: the overdue
    /// ones and the unreadable ones.
    private func readAgain(_ ids: [Int64], rule: RuleSpec, tickets: TicketsDatabase, now: Date) throws(StoreError)
        -> OverdueRead {
        guard !ids.isEmpty else { return OverdueRead(tickets: [], badRows: [], nextDue: .distantFuture) }
        let offsets = ZoneOffsets(timeZone)
        let rows = try tickets.candidates(where: RuleQuery.rowFilter(for: rule.match, ids: Set(ids).sorted(), schema: tickets.schema))
        return Self.overdue(rule: rule, candidates: rows.map { DatedCandidate($0, offsets: offsets) }, now: now)
    }

    /// The queued notifications whose ticket is neither overdue nor a bad row in `overdue`. Pure.
    static func unseen(_ queued: [(rowid: Int64, ticket: Int64)], overdue: OverdueRead)
        -> [(rowid: Int64, ticket: Int64)] {
        guard !queued.isEmpty else { return [] }
        let standing = overdue.standing
        return queued.filter { !standing.contains($0.ticket) }
    }

    /// The overdue test: strictly after the due instant plus the grace.
    /// Counted in whole milliseconds, what due times are kept to: in seconds, a grace of
    /// `1ms` or `100ms` is not exact in binary, and `now - due - grace` came out a hair above
    /// zero at the very instant the grace ends.
    static func isOverdue(dueAt: Date, grace: Duration, at now: Date) -> Bool {
        let elapsed = ((now.timeIntervalSince1970 - dueAt.timeIntervalSince1970) * 1_000).rounded()
        let (seconds, attoseconds) = grace.components
        return elapsed > Double(seconds) * 1_000 + Double(attoseconds / 1_000_000_000_000_000)
    }

    /// Phase 1's pass over the rule's rows. The rows likely to be notified (overdue, and never
    /// notified by this rule) are decoded whole into `wholeRows` in the same pass, so that no
    /// ticket page is read twice; the others stay narrow.
    private func read(rule: RuleSpec, filter: TicketFilter, tickets: TicketsDatabase, outbox: Outbox, now: Date,
                      detail: ScanDetail, wholeRows: inout [Int64: TicketRecord]) throws(StoreError) -> [DatedCandidate] {
        let notified = detail == .all ? [] : try outbox.dedupTickets(rule: rule.name)
        let offsets = ZoneOffsets(timeZone)
        return try tickets.candidates(where: filter) { candidate, full -> DatedCandidate in
            let dated = DatedCandidate(candidate, offsets: offsets)
            if (detail == .all || !notified.contains(candidate.id)) && dated.isOverdue(grace: rule.match.grace, at: now) {
                wholeRows[candidate.id] = full()
            }
            return dated
        }
    }

    /// The queues of rules no longer in the config (removed, renamed): no rule weighs them.
    private func withdrawalsOfRemovedRules(outbox: Outbox, upTo lastQueued: Int64) throws(StoreError) -> [Withdrawal] {
        var withdrawals: [Withdrawal] = []
        let configured = Set(rules.map(\.name))
        for name in try outbox.queuedRules(upTo: lastQueued).subtracting(configured).sorted() {
            let queued = try outbox.queuedTickets(rule: name, upTo: lastQueued)
            withdrawals += try outbox.queued(rowids: queued.map(\.rowid)).map {
                Withdrawal(rule: name, notification: $0, cause: .ruleRemoved)
            }
        }
        return withdrawals
    }

    /// The notifications (one per destination) and dedup records of the enqueued matches,
    /// from their snapshots.
    private func makeNotifications(_ report: inout ScanReport, detail: ScanDetail, now: Date,
                                   progress: TickProgress?) throws(StoreError) {
        var enqueued = 0, notifications = 0
        for match in report.matches where match.isEnqueued {
            enqueued += 1
            notifications += match.destinations.count
        }
        report.notifications.reserveCapacity(notifications)
        report.dedupRecords.reserveCapacity(enqueued)
        report.dedupExpectations.reserveCapacity(enqueued)
        for index in report.matches.indices where report.matches[index].isEnqueued {
            try progress?.checkpoint()
            guard let snapshot = report.matches[index].snapshot else { continue }
            // A tick keeps each snapshot once, encoded; only a listing of every match (`.all`)
            // shows them afterwards. (By index: a loop over the array would hold a copy of it.)
            if detail == .enqueued { report.matches[index].snapshot = nil }
            let match = report.matches[index]
            let encoded = snapshot.encoded()
            for destination in match.destinations {
                report.notifications.append(OverdueNotification(
                    id: OverdueNotification.newID(), rule: match.rule, ticket: match.ticket.ticket,
                    ticketID: match.ticket.ticketID, destination: destination, snapshot: encoded, createdAt: now))
            }
            report.dedupRecords.append(DedupDecision.record(rule: match.rule, ticket: match.ticket, at: now))
            report.dedupExpectations.append(match.previousNotifiedAt)
        }
    }

    /// When every match is held back by dedup alone, the first instant at which that could
    /// change: a `repeat.every` period ends, or a candidate that is not overdue yet becomes
    /// so. nil when some match was notified or is waiting on the queue (the notifier changes
    /// that, not the clock). Pure.
    static func quietUntil(_ matches: [RuleMatch], nextDue: Date) -> Date? {
        var until = nextDue
        for match in matches {
            switch match.decision {
            case .suppress(.alreadyForScheduledDate):
                continue
            case .suppress(.withinPeriod(_, let every, let last)):
                until = min(until, last.addingTimeInterval(every.seconds))
            case .suppress(.stillQueued), .suppress(.notifiedMeanwhile), .suppress(.notifiedAfterNow), .suppress(.notifiedInTheFuture), .notify:
                return nil
            }
        }
        return until
    }

    /// Phase 2: the whole rows of the matches that need them: those phase 1 did not decode
    /// are read by id, then the machine and user names are joined. A ticket the app deleted
    /// between the two phases is no longer a match.
    private func readSnapshots(into report: inout ScanReport, tickets: TicketsDatabase, detail: ScanDetail,
                               read records: inout [Int64: TicketRecord], progress: TickProgress?) throws(StoreError) {
        let wanted = report.matches.indices.filter { detail == .all || report.matches[$0].isEnqueued }
        guard !wanted.isEmpty else { return }
        let missing = Set(wanted.map { report.matches[$0].ticket.ticket }).filter { records[$0] == nil }
        for record in try tickets.wholeRows(ids: missing.sorted()) { records[record.id] = record }
        try tickets.completeJoins(&records)
        for index in wanted {
            try progress?.checkpoint()
            let match = report.matches[index]
            report.matches[index].snapshot = records[match.ticket.ticket].map {
                Self.snapshot(rule: match.rule, ticket: match.ticket, record: $0, detectedAt: report.now)
            }
        }
        report.matches.removeAll { match in match.snapshot == nil && (detail == .all || match.isEnqueued) }
    }

    /// Which candidates are overdue at `now`, and which rows cannot be read. Pure.
    /// `nextDue`: the earliest instant at which one of the candidates that are not overdue yet
    /// becomes so (`distantFuture` when none).
    public static func overdue(rule: RuleSpec, candidates: [DatedCandidate], now: Date)
        -> OverdueRead {
        var tickets: [MatchedTicket] = []
        var badRows: [BadRow] = []
        var nextDue = Date.distantFuture
        let unassignedOnly = rule.match.assigned == false
        for entry in candidates {
            let candidate = entry.candidate
            // `assigned: false` selects, besides NULL, the values SQL cannot tell from a user id
            // (`'12'`): one that reads as a user id is assigned, and not this rule's.
            if unassignedOnly, candidate.assignedTo != nil { continue }
            let dueAt: Date
            switch entry.date {
            case .absent:
                continue
            case .unparseable(let raw):
                badRows.append(BadRow(ticket: candidate.id, ticketID: candidate.ticketID,
                                      problem: "scheduled_date \(Self.quoted(raw)) is not a date overdued can read\(Self.invisibleHint(raw)); row skipped"))
                continue
            case .instant(let date):
                dueAt = date
            }
            guard Self.isOverdue(dueAt: dueAt, grace: rule.match.grace, at: now) else {
                nextDue = min(nextDue, dueAt.addingTimeInterval(rule.match.grace.seconds))
                continue
            }
            if candidate.status == nil, rule.match.statusNotIn != nil {
                badRows.append(BadRow(ticket: candidate.id, ticketID: candidate.ticketID,
                                      problem: "status is NULL (the app always writes one), so status_not_in cannot tell whether it is excluded; row skipped"))
                continue
            }
            if let raw = candidate.unreadableAssignedTo {
                badRows.append(BadRow(ticket: candidate.id, ticketID: candidate.ticketID,
                                      problem: "assigned_to \(Self.quoted(raw)) is not a user id (a whole number, or NULL when unassigned); row skipped"))
                continue
            }
            var ticketID = candidate.ticketID?.trimmedASCIIWhitespace ?? ""
            if ticketID.isEmpty {
                ticketID = "#\(candidate.id)"
                let stored = candidate.ticketID == nil ? "NULL" : "empty"
                badRows.append(BadRow(ticket: candidate.id, ticketID: nil, problem: "ticket_id is \(stored); its notifications name it \(ticketID)",
                                      skipped: false))
            }
            tickets.append(MatchedTicket(ticket: candidate.id, ticketID: ticketID, status: candidate.status ?? "",
                                         priority: candidate.priority ?? "", assignedTo: candidate.assignedTo,
                                         scheduledDate: candidate.scheduledDate ?? "", dueAt: dueAt))
        }
        return OverdueRead(tickets: tickets, badRows: badRows, nextDue: nextDue)
    }

    /// The dedup records with each date that names the ticket's current deadline in another
    /// spelling (the app rewrote `2026-11-26 08:00:00` as `2026-11-26T13:00:00.000Z`) spelt as
    /// the ticket spells it now: for `once_per_scheduled_date` and `on_change: scheduled_date`
    /// it is the same deadline, not a new one. Parses only the dates whose text differs. Pure.
    static func respelled(_ records: [Int64: DedupRecord], tickets: [MatchedTicket], zone: ZoneRules) -> [Int64: DedupRecord] {
        var records = records
        for ticket in tickets {
            guard let date = records[ticket.ticket]?.scheduledDate, date != ticket.scheduledDate,
                  Self.sameDeadline(ticket, date, zone: zone) else { continue }
            records[ticket.ticket]?.scheduledDate = ticket.scheduledDate
        }
        return records
    }

    /// Whether `text` and the ticket's date name one deadline: either names the other's instant
    /// (a naive time in the hour repeated in autumn names both of its readings, whichever side
    /// it is on).
    static func sameDeadline(_ ticket: MatchedTicket, _ text: String, zone: ZoneRules) -> Bool {
        if ScheduledDate.names(ticket.dueAt, text, in: zone) { return true }
        guard case .instant(let instant) = ScheduledDate.parse(text, in: zone) else { return false }
        return ScheduledDate.names(instant, ticket.scheduledDate, in: zone)
    }

    /// The same for the dates of earlier notifications (`once_per_scheduled_date`): one that
    /// names the ticket's current deadline counts as its current spelling.
    static func respelled(_ dates: [Int64: Set<String>], tickets: [MatchedTicket], zone: ZoneRules) -> [Int64: Set<String>] {
        var dates = dates
        for ticket in tickets {
            guard let notified = dates[ticket.ticket], !notified.contains(ticket.scheduledDate),
                  notified.contains(where: { Self.sameDeadline(ticket, $0, zone: zone) }) else { continue }
            dates[ticket.ticket]?.insert(ticket.scheduledDate)
        }
        return dates
    }

    /// What dedup says about each overdue ticket; a notified one goes to every destination of
    /// the rule until `holdBack` removes those still queued. Pure.
    /// Under `once_per_scheduled_date`, the tickets whose date differs from their last
    /// notification's: whether it is one notified before decides (read for those alone;
    /// none on a quiet tick). nil when there are none.
    /// With `unnotifiedToo`, also the tickets with no dedup state (a withdrawal can leave the
    /// dates of earlier notifications without one).
    static func notifiedDatesNeeded(rule: RuleSpec, tickets: [MatchedTicket], previous: [Int64: DedupRecord],
                                    unnotifiedToo: Bool = false) -> [Int64]? {
        guard rule.repeatPolicy.oncePerScheduledDate else { return nil }
        let ids = tickets.compactMap { ticket in
            guard let last = previous[ticket.ticket] else { return unnotifiedToo ? ticket.ticket : nil }
            return last.scheduledDate != ticket.scheduledDate ? ticket.ticket : nil
        }
        return ids.isEmpty ? nil : ids
    }

    public static func decide(rule: RuleSpec, tickets: [MatchedTicket], previous: [Int64: DedupRecord],
                              notifiedDates: [Int64: Set<String>] = [:], now: Date, atMachineClock: Bool = true) -> [RuleMatch] {
        tickets.map { ticket in
            let last = previous[ticket.ticket]
            let decision = DedupDecision.decide(policy: rule.repeatPolicy, ticket: ticket, previous: last,
                                                notifiedDates: notifiedDates[ticket.ticket] ?? [], now: now,
                                                atMachineClock: atMachineClock)
            var match = RuleMatch(rule: rule.name, ticket: ticket, overdueSeconds: Int(now.timeIntervalSince(ticket.dueAt)),
                                  decision: decision, destinations: decision.shouldNotify ? rule.destinations : [])
            match.previousNotifiedAt = last?.lastNotifiedAt
            return match
        }
    }

    /// A destination that still has an undelivered notification of the ticket by this rule
    /// gets no second one for a repeat that time alone brings; with none left, the match is
    /// suppressed. A change goes to every destination, queued behind the older one (see
    /// `DedupDecision.isHeldBackByQueued`). Pure.
    public static func holdBack(_ matches: inout [RuleMatch], open: Set<Outbox.OpenKey>) {
        guard !open.isEmpty else { return }
        for index in matches.indices where matches[index].decision.isHeldBackByQueued {
            let ticket = matches[index].ticket.ticket
            matches[index].destinations.removeAll { open.contains(Outbox.OpenKey(ticket: ticket, destination: $0)) }
            if matches[index].destinations.isEmpty { matches[index].decision = .suppress(.stillQueued) }
        }
    }

    /// The snapshot payloads are rendered from: the joined row as read in phase 2, with the
    /// id and due instant that phase 1 decided on.
    public static func snapshot(rule: String, ticket: MatchedTicket, record: TicketRecord, detectedAt: Date) -> TicketSnapshot {
        TicketSnapshot(
            rule: rule, ticket: record.id, ticketID: ticket.ticketID, title: record.title ?? "",
            description: record.description ?? "", status: record.status ?? "", priority: record.priority ?? "",
            machine: record.machineID == nil && record.machineType == nil ? nil : TicketSnapshot.Machine(
                id: record.machineID, type: record.machineType, model: record.machineModel, location: record.machineLocation),
            assignedTo: record.assignedTo, assigneeName: record.assigneeName, reportedBy: record.reportedBy,
            reporterName: record.reporterName, createdAt: record.createdAt, scheduledDate: record.scheduledDate ?? "",
            dueAt: ticket.dueAt, isMachineDown: record.isMachineDown, detectedAt: detectedAt)
    }

    /// What a quoted value hides: its first character that shows as a space or not at all (a
    /// no-break space pasted from a document, a zero-width space), named, since the value
    /// looks like a date that should read. Empty when it has none.
    static func invisibleHint(_ raw: String) -> String {
        for (offset, scalar) in raw.unicodeScalars.enumerated() where scalar.value > 0x7F {
            let category = scalar.properties.generalCategory
            guard category == .spaceSeparator || category == .format || category == .control else { continue }
            let code = String(scalar.value, radix: 16, uppercase: true)
            let name = scalar.properties.name.map { " \($0)" } ?? ""
            return " (character \(offset + 1) is U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code)\(name), which shows as a space or not at all)"
        }
        return ""
    }

    /// A stored value quoted for a message, with control characters escaped and length cut.
    static func quoted(_ raw: String) -> String {
        let shown = raw.count > 60 ? String(raw.prefix(60)) + "…" : raw
        return "\"" + shown.unicodeScalars.map { $0.value < 32 || $0 == "\"" ? $0.escaped(asASCII: true) : String($0) }.joined() + "\""
    }
}

/// What one rule's read found at an instant: the overdue tickets, the rows that cannot be read,
/// and when the first of the others becomes overdue (`distantFuture`: none does).
public struct OverdueRead: Sendable {
    public var tickets: [MatchedTicket]
    public var badRows: [BadRow]
    public var nextDue: Date

    /// The tickets the read stands by, overdue or unreadable: a queued notification of one of
    /// them is not withdrawn (an unreadable row is no evidence either way).
    var standing: Set<Int64> {
        Set(tickets.map(\.ticket)).union(badRows.map(\.ticket))
    }
}
