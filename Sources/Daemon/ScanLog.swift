public import Logging
import OverduedConfig
public import Scheduler
internal import TextEscaping

/// The log records of one evaluation of the rules, the same from the daemon's ticks and from
/// `overdued once`: a warning per bad row, a debug record per match, an info record per
/// notification enqueued (the first `enqueuedOneByOne`, then one count), each with its journal
/// fields.
public enum ScanLog {
    public static func badRow(_ row: BadRow, to logger: Logger) {
        logger.warning("\(row)", metadata: ["event": "bad_row", "ticket": "\(row.ticket)", "ticket_id": "\(row.ticketID ?? "")"])
    }

    /// The matches (unless the result was reused: nothing was read again) and what was enqueued.
    public static func matchesAndEnqueued(_ report: ScanReport, to logger: Logger) {
        for match in report.matches where report.unchangedSince == nil {
            logger.debug("\(PrintableText.escaped(match.ticket.ticketID)) overdue by rule \(match.rule): \(match.isEnqueued ? "enqueued" : match.decision.reason)",
                         metadata: ["event": "match", "rule": "\(match.rule)", "ticket": "\(match.ticket.ticket)",
                                    "ticket_id": "\(match.ticket.ticketID)"])
        }
        for notification in report.notifications.prefix(enqueuedOneByOne) {
            logger.info("enqueued \(PrintableText.escaped(notification.ticketID)) for \(notification.destination) (rule \(notification.rule))",
                        metadata: ["event": "enqueue", "rule": "\(notification.rule)", "ticket": "\(notification.ticket)",
                                   "ticket_id": "\(notification.ticketID)", "destination": "\(notification.destination)",
                                   "notification_id": "\(notification.id)"])
        }
        let more = report.notifications.count - enqueuedOneByOne
        if more > 0 {
            logger.notice("… and \(more) more notifications enqueued by this tick, not logged one by one (`overdued queue --limit N` lists them; `overdued history --ticket ID` gives one ticket's)",
                          metadata: ["event": "enqueue", "count": "\(more)"])
        }
        withdrawn(report.withdrawals, to: logger)
    }

    /// A notice per notification withdrawn (the first `enqueuedOneByOne`, then one count).
    public static func withdrawn(_ withdrawals: [Withdrawal], to logger: Logger) {
        for withdrawal in withdrawals.prefix(enqueuedOneByOne) {
            let queued = withdrawal.notification
            let why = withdrawal.cause.text
            logger.notice("withdrew the notification of \(PrintableText.escaped(queued.ticketID)) for \(queued.destination) (rule \(withdrawal.rule)): \(why); not sent unless already under way",
                          metadata: ["event": "withdrawn", "rule": "\(withdrawal.rule)", "ticket": "\(queued.ticket)",
                                     "ticket_id": "\(queued.ticketID)", "destination": "\(queued.destination)",
                                     "notification_id": "\(queued.id)"])
        }
        let more = withdrawals.count - enqueuedOneByOne
        if more > 0 {
            logger.notice("… and \(more) more queued notifications withdrawn by this tick, not logged one by one (`overdued history --status withdrawn --limit N` lists them, with why)",
                          metadata: ["event": "withdrawn", "count": "\(more)"])
        }
    }

    /// Enqueue records written one by one per tick. A rule that suddenly matches a large part
    /// of the table (a first start, a rule written too wide) would otherwise write a record
    /// per ticket: a million lines, ten seconds of the tick, and journald's rate limit
    /// (10,000 per 30 s by default) dropping them, the tick's own summary with them.
    public static let enqueuedOneByOne = 200
}

/// Which bad rows a daemon warns about: each once per problem, not at every tick; a row read
/// cleanly since (fixed by the app) is forgotten, so that it is warned about again if it breaks
/// again the same way, and what is remembered is only what is bad now.
public struct BadRowWarnings: Sendable {
    /// ticket → the problem last warned about.
    private var warned: [Int64: String] = [:]

    public init() {}

    /// How many rows are remembered (for tests).
    public var count: Int { warned.count }

    /// The rows of this evaluation to warn about. `complete`: the evaluation read every rule
    /// (not a result reused from an unchanged tick, which carries no bad rows), so a ticket it
    /// does not report reads cleanly now.
    public mutating func fresh(_ rows: [BadRow], complete: Bool) -> [BadRow] {
        var now = complete ? [:] : warned
        var fresh: [BadRow] = []
        for row in rows {
            if warned[row.ticket] != row.problem { fresh.append(row) }
            now[row.ticket] = row.problem
        }
        warned = now
        return fresh
    }
}
