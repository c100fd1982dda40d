public import Foundation
public import OverduedConfig
public import Store

/// Compiles a rule's `match` into one parameterised condition on `tickets` that SQLite
/// answers from one of the app's indexes, never by a full scan of the table.
///
/// Which index drives the query is chosen here, not left to the planner (the app's database
/// usually has no `ANALYZE` statistics): with `status_in`, the status index, because open
/// tickets are few while closed ones with past dates grow forever; with `status_not_in` alone,
/// the status index too, over the statuses present less the excluded ones (a
/// `TicketFilter.Complement`, resolved where the rows are read); otherwise the
/// scheduled_date index. Columns that must not drive are written `+t.column`, which SQLite
/// never uses for an index. With `status_in`, and both indexes present, the filter also
/// carries a `Narrowing`: the same rows, without a table seek for each open ticket that the
/// scheduled_date index already shows is not due.
///
/// SQL cannot read the app's mix of date formats and zones exactly, so the condition selects a
/// superset and the engine decides in Swift:
/// - `scheduled_date < <the day after now - grace + 18 h>`: every text form of an instant that
///   can be overdue sorts below it (`YYYY-MM-DD...` compares as text, no offset overdued reads
///   is more than 18 h ahead of UTC, and integers stored by mistake sort below any text);
/// - plus values that do not look like `YYYY-MM-DD...` (`'null'`, words, `24/11/2026`), so that
///   garbage is warned about rather than silently ignored. When the date index drives, those
///   are its entries from the bound on that fail the pattern: a second range of the index,
///   whose future dates are read from the index alone (no table seek for them).
public enum RuleQuery {
    public static func filter(for match: MatchSpec, now: Date, schema: TicketSchema) -> TicketFilter {
        var conditions: [String] = []
        var arguments: [SQLArgument] = []
        let latestLocal = now.addingTimeInterval(-match.grace.seconds + Self.widestOffset)
        let cutoff = dayAfter(latestLocal)

        let others = otherConditions(match, schema: schema)
        // Behind a status set, the date does not drive either.
        let behindStatuses = (["+t.scheduled_date IS NOT NULL AND (+t.scheduled_date < ? OR NOT +t.scheduled_date GLOB '\(datePattern)')"]
            + others.sql).joined(separator: " AND ")
        let notDueFrom = schema.hasStatusIndex && schema.hasScheduledDateIndex ? cutoff : nil
        if let statuses = match.statusIn {
            return TicketFilter.statusSet(statuses, conditions: behindStatuses, arguments: [.text(cutoff)] + others.arguments,
                                          notDueFrom: notDueFrom)
        }
        // Two ranges of the date index: what can be due, and from the bound on whatever is not
        // date-shaped (`24/11/2026`, words), the GLOB checked on the index entry itself.
        conditions.append("t.scheduled_date IS NOT NULL AND (t.scheduled_date < ? OR (t.scheduled_date >= ? AND NOT t.scheduled_date GLOB '\(datePattern)'))")
        arguments += [.text(cutoff), .text(cutoff)]
        conditions += others.sql
        arguments += others.arguments
        let complement = match.statusNotIn.flatMap { excluded in
            schema.hasStatusIndex
                ? TicketFilter.Complement(excluded: excluded, conditions: behindStatuses, arguments: [.text(cutoff)] + others.arguments,
                                          notDueFrom: notDueFrom)
                : nil
        }
        return TicketFilter(sql: conditions.joined(separator: " AND "), arguments: arguments, complement: complement)
    }

    /// The rule's conditions on these tickets (by tickets.id), without the date bound: what
    /// the rule would select among them if their dates were all due, for the engine to judge
    /// each date itself. Driven by the primary key.
    public static func rowFilter(for match: MatchSpec, ids: [Int64], schema: TicketSchema) -> TicketFilter {
        var conditions = ["t.id IN (SELECT value FROM json_each(?))"]
        var arguments: [SQLArgument] = [.text("[" + ids.map(String.init).joined(separator: ",") + "]")]
        if let statuses = match.statusIn {
            conditions.append("+t.status IN (\(SQLArgument.listMarks(statuses)))")
            arguments += SQLArgument.listed(statuses)
        }
        let others = otherConditions(match, schema: schema)
        return TicketFilter(sql: (conditions + others.sql).joined(separator: " AND "), arguments: arguments + others.arguments)
    }

    /// The conditions besides the date and `status_in`, none driving an index.
    private static func otherConditions(_ match: MatchSpec, schema: TicketSchema) -> (sql: [String], arguments: [SQLArgument]) {
        var conditions: [String] = []
        var arguments: [SQLArgument] = []
        if let statuses = match.statusNotIn {
            // NULL is in no list, but `NOT IN` is not true of it: selected, for the engine to warn.
            conditions.append("(+t.status IS NULL OR +t.status NOT IN (\(SQLArgument.listMarks(statuses))))")
            arguments += SQLArgument.listed(statuses)
        }
        switch match.assigned {
        case true?: conditions.append("+t.assigned_to IS NOT NULL")
        // With the values that are not whole numbers (`'bob'`, `'12'`, `3.0`): the engine
        // reads each, and warns about the unreadable ones rather than leaving them out unseen.
        case false?: conditions.append("(+t.assigned_to IS NULL OR typeof(t.assigned_to) <> 'integer')")
        case nil: break
        }
        if let priorities = match.priorityIn {
            conditions.append("+t.priority IN (\(SQLArgument.listMarks(priorities)))")
            arguments += SQLArgument.listed(priorities)
        }
        if !match.includeDeleted, schema.hasDeletedAt {
            conditions.append("+t.deleted_at IS NULL")
        }
        return (conditions, arguments)
    }

    /// What every readable scheduled_date starts with.
    static let datePattern = ScheduledDateText.globPattern

    /// The widest offset a date text can carry (`+18:00`, as ISO 8601 and the date reader
    /// allow; real zones stop at +14:00).
    static let widestOffset: TimeInterval = 18 * 3600

    /// `YYYY-MM-DD` of the UTC day after `date`; past year 9999, `":"`, which sorts after every
    /// date text (`"10000-01-01"` would sort before `"2026-..."`).
    static func dayAfter(_ date: Date) -> String {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down)) + 1
        return days > lastFourDigitDay ? ":" : CivilDate.text(days: days)
    }

    /// 9999-12-31, in days since 1970-01-01.
    static let lastFourDigitDay = 2_932_896
}
