public import Foundation
internal import Mustache
internal import OverduedConfig
public import Store

/// A payload written by the operator as a Mustache template (`"format": {"template": "slack.mustache"}`),
/// for receivers that want their own shape: Slack, ntfy, Teams, a ticketing API.
///
/// Inside a template, `{{name}}` is **JSON-string-escaped** (quotes, backslashes, line
/// breaks), not HTML-escaped as Mustache does by default: ticket titles hold quotes and
/// newlines, and one unescaped quote would make every notification of that ticket invalid
/// JSON. So write `"text": "{{title}}"` — the quotes are the template's, the escaping is
/// overdued's. `{{{name}}}` inserts the value raw (for numbers or the `*_json` values).
///
/// Variables (absent ones render empty and are false in `{{#section}}`):
///
/// | name | value |
/// |---|---|
/// | `type` | `ticket.overdue` |
/// | `notification_id` | the notification id, also sent as `webhook-id` |
/// | `rule` | the rule that matched |
/// | `ticket` | tickets.id (number) |
/// | `ticket_id`, `title`, `description`, `status`, `priority` | as in the app |
/// | `machine` | `"<type> <model>"` or `N/A` (as in the legacy payload) |
/// | `machine_type`, `machine_model`, `machine_location` | when known |
/// | `is_machine_down` | true / false |
/// | `assigned_to` | assignee name, `Équipe complète`, `Technicien #<id>` or `Non assigné` |
/// | `assigned_to_id`, `assignee_name` | when known |
/// | `reporter` | reporter name or `N/A`; `reporter_name` when known |
/// | `created_at`, `scheduled_date` | as stored by the app |
/// | `due_at`, `detected_at`, `sent_at` | ISO 8601 UTC with milliseconds |
/// | `overdue_seconds`, `overdue_days`, `overdue_hours`, `overdue_minutes` | numbers |
/// | `overdue_text` | `2 jour(s) 9h 26min` / `9h 26min` |
/// | `legacy_json`, `standard_json` | the whole legacy / standard payload as JSON (use `{{{…}}}`) |
///
/// The rendered text must be valid JSON (an object or an array); otherwise rendering fails
/// with the template's path and the parser's complaint, and the notification is dead rather
/// than delivered as garbage.
public enum TemplatePayload {
    /// Our JSON content type, selected by a pragma put in front of every template.
    static let contentTypeName = "OVERDUED_JSON"

    /// What a template selects with `{{% CONTENT_TYPE: SLACK_JSON }}` (its first line) for
    /// Slack's mrkdwn: `&`, `<` and `>` written as `&amp;`, `&lt;` and `&gt;`, as Slack asks,
    /// then JSON-escaped. Otherwise a ticket title holding `<!channel>` or
    /// `<https://…|Cliquez ici>` notifies the whole channel or shows a disguised link.
    public static let slackContentTypeName = "SLACK_JSON"

    private static let registration: Void = {
        MustacheContentTypes.register(JSONStringContentType(), named: contentTypeName)
        MustacheContentTypes.register(SlackJSONContentType(), named: slackContentTypeName)
    }()

    struct JSONStringContentType: MustacheContentType {
        func escapeText(_ text: String) -> String {
            PayloadJSON.escaped(text)
        }
    }

    struct SlackJSONContentType: MustacheContentType {
        func escapeText(_ text: String) -> String {
            guard text.contains(where: { $0 == "&" || $0 == "<" || $0 == ">" }) else { return PayloadJSON.escaped(text) }
            var escaped = ""
            for character in text {
                switch character {
                case "&": escaped += "&amp;"
                case "<": escaped += "&lt;"
                case ">": escaped += "&gt;"
                default: escaped.append(character)
                }
            }
            return PayloadJSON.escaped(escaped)
        }
    }

    /// Put in front of every template: selects the JSON content type.
    static let pragma = "{{% CONTENT_TYPE: \(contentTypeName) }}"

    /// Parses a template; throws a `PayloadError` naming the file, line and column for a
    /// syntax error.
    static func parse(source: String, path: String) throws(PayloadError) -> MustacheTemplate {
        _ = registration
        switch firstRefusedTag(in: source) {
        case .referenceToAnotherTemplate(let line, let column):
            // The library renders one it cannot find as nothing, without a word.
            throw PayloadError(.templateSyntax, "the template \(path) cannot be parsed: line \(line), column \(column): a partial "
                + "({{> name}}) or parent ({{< name}}) names another template, which overdued does not load (it reads one file); "
                + "write that text in this template")
        case .nestedTooDeep(let line, let column):
            throw PayloadError(.templateSyntax, "the template \(path) cannot be parsed: line \(line), column \(column): sections "
                + "nested more than \(maxSectionDepth) deep")
        case nil:
            break
        }
        do {
            // No newline after the pragma: line numbers in parser errors stay the file's.
            return try MustacheTemplate(string: pragma + source)
        } catch {
            throw PayloadError(.templateSyntax, "the template \(path) cannot be parsed: \(syntaxProblem(error))")
        }
    }

    /// How deep sections (`{{#…}}`, `{{^…}}`) may nest. The library parses and renders them by
    /// recursion: 700 levels overflowed the stack (SIGSEGV) in `check-config`, at start, and
    /// in a running daemon's reload, which must refuse a bad config and go on (fuzzing).
    static let maxSectionDepth = 100

    /// A tag the template may not have, where it stands.
    enum RefusedTag: Equatable {
        /// `{{> name}}`, `{{< name}}`: another template.
        case referenceToAnotherTemplate(line: Int, column: Int)
        /// The section that opens level `maxSectionDepth + 1`.
        case nestedTooDeep(line: Int, column: Int)
    }

    /// The first refused tag, following the template's delimiter changes (`{{=<% %>=}}`); nil
    /// when there is none.
    static func firstRefusedTag(in source: String) -> RefusedTag? {
        var depth = 0
        return firstTag(in: source) { sigil in
            switch sigil {
            case UInt8(ascii: ">"), UInt8(ascii: "<"): return { .referenceToAnotherTemplate(line: $0, column: $1) }
            case UInt8(ascii: "#"), UInt8(ascii: "^"), UInt8(ascii: "$"):
                depth += 1
                return depth > maxSectionDepth ? { .nestedTooDeep(line: $0, column: $1) } : nil
            case UInt8(ascii: "/"):
                depth = max(0, depth - 1)
                return nil
            default:
                return nil
            }
        }
    }

    /// Walks the template's tags, following its delimiter changes, and gives each tag's first
    /// character (after spaces) to `refuse`; the first refusal it makes, with the tag's line and
    /// column.
    private static func firstTag(in source: String, refuse: (UInt8) -> ((Int, Int) -> RefusedTag)?) -> RefusedTag? {
        let bytes = Array(source.utf8)
        var open = Array("{{".utf8), close = Array("}}".utf8)
        func find(_ needle: [UInt8], from start: Int) -> Int? {
            guard !needle.isEmpty, start <= bytes.count - needle.count else { return nil }
            return (start...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
        var index = 0
        while let start = find(open, from: index) {
            var contentStart = start + open.count
            // `{{{name}}}`, with the default delimiters only.
            if open == Array("{{".utf8), contentStart < bytes.count, bytes[contentStart] == UInt8(ascii: "{") {
                guard let end = find(Array("}}}".utf8), from: contentStart) else { return nil }
                index = end + 3
                continue
            }
            guard let end = find(close, from: contentStart) else { return nil }   // the parser says "unfinished"
            while contentStart < end, bytes[contentStart] == UInt8(ascii: " ") { contentStart += 1 }
            let content = bytes[contentStart..<end]
            if let sigil = content.first, let refusal = refuse(sigil) {
                let before = bytes[..<start]
                let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
                let column = bytes[lineStart..<start].filter { $0 & 0xC0 != 0x80 }.count + 1
                return refusal(before.filter { $0 == UInt8(ascii: "\n") }.count + 1, column)
            }
            index = end + close.count
            if content.first == UInt8(ascii: "="), content.count > 2, content.last == UInt8(ascii: "=") {
                // Split as the library splits them: on any white space (a line break, a
                // no-break space too), or the sections after the change went uncounted.
                let delimiters = String(decoding: content.dropFirst().dropLast(), as: UTF8.self)
                    .split(whereSeparator: \.isWhitespace).map { Array($0.utf8) }
                if delimiters.count == 2 {
                    open = delimiters[0]
                    close = delimiters[1]
                }
            }
        }
        return nil
    }

    /// "line 3, column 12: …" in the operator's file: the parser's own description holds its
    /// internals and the pragma, and counts line 1's columns from the pragma's start.
    static func syntaxProblem(_ error: any Error) -> String {
        guard let error = error as? MustacheTemplate.ParserError else { return "it is not a valid Mustache template" }
        let line = error.context.lineNumber
        let column = line == 1 ? max(1, error.context.columnNumber - pragma.count) : error.context.columnNumber
        let what = switch error.error {
        case MustacheTemplate.Error.sectionCloseNameIncorrect: "this {{/…}} does not close the section that is open"
        case MustacheTemplate.Error.expectedSectionEnd: "the template ends inside a section: a {{#…}} or {{^…}} has no {{/…}}"
        case MustacheTemplate.Error.unfinishedName: "a tag is not finished (a missing \"}}\", or a name with spaces)"
        case MustacheTemplate.Error.invalidSetDelimiter: "a delimiter change {{=… …=}} is malformed"
        case MustacheTemplate.Error.invalidConfigVariableSyntax: "a pragma {{% NAME: value }} is malformed"
        case MustacheTemplate.Error.unrecognisedConfigVariable: "unknown pragma {{% … }}"
        case MustacheTemplate.Error.transformAppliedToInheritanceSection, MustacheTemplate.Error.illegalTokenInsideInheritSection,
             MustacheTemplate.Error.textInsideInheritSection: "a template inheritance block ({{<…}}, {{$…}}) is malformed"
        default: "the template ends inside a tag"
        }
        return "line \(line), column \(column): \(what)"
    }

    /// Why a template cannot be used, or nil: it must parse, and render a sample ticket
    /// (with quotes, accents and a line break in its texts) to JSON. Run when the config is
    /// loaded, so `check-config` and a reload refuse a template that would make every
    /// notification dead.
    public static func problem(source: String, path: String) -> String? {
        let sample = TicketSnapshot(
            rule: "sample", ticket: 1, ticketID: "IGP-2026-0001", title: "Fuite d'huile \"urgente\"",
            description: "Ligne 1\nLigne 2", status: "received", priority: "high",
            machine: TicketSnapshot.Machine(id: 1, type: "Four", model: "FT-2000", location: "Atelier 1"),
            assignedTo: 0, assigneeName: "Toute l'équipe", reportedBy: 2, reporterName: "Marie Tremblay",
            createdAt: "2026-11-20 08:00:00", scheduledDate: "2026-11-23 09:00:00",
            dueAt: Date(timeIntervalSince1970: 1_795_960_800), isMachineDown: true,
            detectedAt: Date(timeIntervalSince1970: 1_796_050_800))
        do {
            _ = try render(source: source, path: path, snapshot: sample, notificationID: "msg_sample",
                           sentAt: Date(timeIntervalSince1970: 1_796_050_800))
            return nil
        } catch {
            return error.message
        }
    }

    /// Renders the template and checks that the result is JSON.
    public static func render(source: String, path: String, snapshot: TicketSnapshot, notificationID: String,
                              sentAt: Date) throws(PayloadError) -> Data {
        let template = try parse(source: source, path: path)
        let text = template.render(variables(snapshot: snapshot, notificationID: notificationID, sentAt: sentAt))
        let bytes = Array(text.utf8)
        // RFC 8259, not Foundation's parser, which lets a trailing comma through: strict
        // receivers (Slack, ntfy, Python's json) refuse such a body.
        if let syntax = StrictJSON.syntaxError(in: bytes) {
            let excerpt = text.count > 300 ? String(text.prefix(300)) + "…" : text
            throw PayloadError(.templateOutputNotJSON,
                               "the template \(path) did not render valid JSON (output \(syntax)); "
                               + "write \"{{name}}\" inside quotes for text values. Output: \(excerpt)")
        }
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }),
              first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else {
            throw PayloadError(.templateOutputNotJSON, "the template \(path) must render a JSON object or array")
        }
        return Data(bytes)
    }

    /// The values a template can use (see the table above).
    public static func variables(snapshot: TicketSnapshot, notificationID: String, sentAt: Date) -> [String: any Sendable] {
        let legacy = LegacyPayload(snapshot: snapshot, sentAt: sentAt)
        let overdue = OverdueDuration(dueAt: snapshot.dueAt, sentAt: sentAt)
        var values: [String: any Sendable] = [
            "type": StandardPayload.eventType,
            "notification_id": notificationID,
            "rule": snapshot.rule,
            "ticket": snapshot.ticket,
            "ticket_id": snapshot.ticketID,
            "title": snapshot.title,
            "description": snapshot.description,
            "status": snapshot.status,
            "priority": snapshot.priority,
            "machine": legacy.machine,
            "is_machine_down": snapshot.isMachineDown,
            "assigned_to": legacy.assignedTo,
            "reporter": legacy.reporter,
            "scheduled_date": snapshot.scheduledDate,
            "due_at": PayloadTimestamp.iso8601(snapshot.dueAt),
            "detected_at": PayloadTimestamp.iso8601(snapshot.detectedAt),
            "sent_at": legacy.notificationSentAt,
            "overdue_seconds": overdue.totalSeconds,
            "overdue_days": overdue.days,
            "overdue_hours": overdue.hours,
            "overdue_minutes": overdue.minutes,
            "overdue_text": overdue.frenchText,
            "legacy_json": legacy.json.text,
            "standard_json": StandardPayload.json(snapshot: snapshot, notificationID: notificationID, sentAt: sentAt).text,
        ]
        let optional: [String: (any Sendable)?] = [
            "machine_type": snapshot.machine?.type,
            "machine_model": snapshot.machine?.model,
            "machine_location": snapshot.machine?.location,
            "assigned_to_id": snapshot.assignedTo,
            "assignee_name": snapshot.assigneeName,
            "reporter_name": snapshot.reporterName,
            "created_at": snapshot.createdAt,
        ]
        for (key, value) in optional {
            if let value { values[key] = value }
        }
        return values
    }
}
