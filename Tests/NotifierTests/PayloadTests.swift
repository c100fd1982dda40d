import Foundation
@testable import Notifier
import OverduedConfig
import Store
import Testing

/// 2 days, 9 hours, 26 minutes and 40 seconds.
private let twoDaysLate: TimeInterval = 2 * 86_400 + 9 * 3_600 + 26 * 60 + 40

@Suite struct LegacyPayloadTests {
    @Test func everyFieldInTheOldOrder() throws {
        let sentAt = Fixtures.dueAt.addingTimeInterval(twoDaysLate)
        let data = LegacyPayload(snapshot: Fixtures.snapshot(), sentAt: sentAt).jsonData()
        let text = String(decoding: data, as: UTF8.self)
        let keys = ["ticket_id", "title", "description", "priority", "status", "machine", "scheduled_date", "assigned_to",
                    "reporter", "created_at", "overdue_days", "overdue_hours", "overdue_minutes", "overdue_text",
                    "notification_sent_at"]
        let positions = keys.map { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "missing keys in \(text)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "keys out of order: \(text)")

        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(json.keys) == Set(keys))
        #expect(json["ticket_id"] as? String == "IGP-2026-0042")
        #expect(json["title"] as? String == "Four n°3 : \"joint\" à changer")
        #expect(json["description"] as? String == "Ligne 1\nLigne 2 — ✅ emoji")
        #expect(json["priority"] as? String == "high")
        #expect(json["status"] as? String == "received")
        #expect(json["machine"] as? String == "Four Bystronic X1")
        #expect(json["scheduled_date"] as? String == "2026-11-18 23:59:59")
        #expect(json["assigned_to"] as? String == "Marie Tremblay")
        #expect(json["reporter"] as? String == "Luc Gagnon")
        #expect(json["created_at"] as? String == "2026-11-01 08:00:00")
        #expect(json["overdue_days"] as? Int == 2)
        #expect(json["overdue_hours"] as? Int == 9)
        #expect(json["overdue_minutes"] as? Int == 26)
        #expect(json["overdue_text"] as? String == "2 jour(s) 9h 26min")
        #expect(json["notification_sent_at"] as? String == PayloadTimestamp.iso8601(sentAt))
        // Numbers are JSON numbers, not strings; text is UTF-8, not \u escapes; "/" is not escaped.
        #expect(text.contains("\"overdue_days\":2,"))
        #expect(text.contains("à changer"))
    }

    @Test func wholeTeamMissingUserAndUnknowns() throws {
        let sentAt = Fixtures.dueAt.addingTimeInterval(9 * 3_600 + 26 * 60 + 59)
        let team = LegacyPayload(snapshot: Fixtures.snapshot(assignedTo: 0, assigneeName: "👥 Toute l'équipe"), sentAt: sentAt)
        #expect(team.assignedTo == "Équipe complète")

        let missingUser = LegacyPayload(snapshot: Fixtures.snapshot(assignedTo: 57, assigneeName: nil), sentAt: sentAt)
        #expect(missingUser.assignedTo == "Technicien #57")

        let unknowns = LegacyPayload(snapshot: Fixtures.snapshot(machine: nil, reporterName: nil), sentAt: sentAt)
        #expect(unknowns.machine == "N/A")
        #expect(unknowns.reporter == "N/A")
        #expect(LegacyPayload.machineText(.init(id: 1, type: "Presse", model: nil, location: nil)) == "Presse")
        #expect(LegacyPayload.machineText(.init(id: 1, type: nil, model: "X", location: nil)) == "N/A")
        // Names made of spaces are no names either.
        #expect(LegacyPayload.machineText(.init(id: 1, type: "  ", model: "X", location: nil)) == "N/A")
        #expect(LegacyPayload.machineText(.init(id: 1, type: "Presse", model: " ", location: nil)) == "Presse")
        #expect(LegacyPayload(snapshot: Fixtures.snapshot(assignedTo: 57, assigneeName: "   "), sentAt: sentAt).assignedTo == "Technicien #57")
        #expect(LegacyPayload(snapshot: Fixtures.snapshot(reporterName: "  "), sentAt: sentAt).reporter == "N/A")

        // Under a day: no "jour(s)" part; seconds dropped, not rounded up.
        #expect(unknowns.overdueDays == 0)
        #expect(unknowns.overdueHours == 9)
        #expect(unknowns.overdueMinutes == 26)
        #expect(unknowns.overdueText == "9h 26min")
    }

    @Test func overdueSplitEdges() {
        #expect(OverdueDuration(totalSeconds: 0).frenchText == "0h 0min")
        #expect(OverdueDuration(totalSeconds: 86_399).frenchText == "23h 59min")
        #expect(OverdueDuration(totalSeconds: 86_400).frenchText == "1 jour(s) 0h 0min")
        let long = OverdueDuration(totalSeconds: 40 * 86_400 + 3_600 + 60)
        #expect((long.days, long.hours, long.minutes) == (40, 1, 1))
        // A clock behind the due time never gives negative numbers.
        #expect(OverdueDuration(dueAt: Date(timeIntervalSince1970: 100), sentAt: Date(timeIntervalSince1970: 50)).totalSeconds == 0)
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(PayloadTimestamp.iso8601(Date(timeIntervalSince1970: 1_795_532_400)) == "2026-11-24T15:00:00.000Z")
        #expect(PayloadTimestamp.iso8601(Date(timeIntervalSince1970: 1_795_532_400.1234)) == "2026-11-24T15:00:00.123Z")
        // A request's instant: the body's milliseconds and the header's seconds name one second.
        let late = PayloadTimestamp.requestInstant(Date(timeIntervalSince1970: 1_795_532_400.9996))
        #expect(PayloadTimestamp.iso8601(late) == "2026-11-24T15:00:00.999Z" && PayloadTimestamp.unixSeconds(late) == 1_795_532_400)
        #expect(PayloadTimestamp.iso8601(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(PayloadTimestamp.iso8601(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(PayloadTimestamp.iso8601(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }

    @Test func jsonEscapingMatchesJSONStringify() {
        #expect(PayloadJSON.escaped("a\"b\\c/d\n\t\u{01}é") == "a\\\"b\\\\c/d\\n\\t\\u0001é")
    }
}

@Suite struct StandardPayloadTests {
    @Test func envelopeAndData() throws {
        let sentAt = Fixtures.dueAt.addingTimeInterval(3_661)
        let data = try PayloadRenderer.render(format: .standard, snapshot: Fixtures.snapshot(), notificationID: "msg_1", sentAt: sentAt)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["type"] as? String == "ticket.overdue")
        #expect(json["timestamp"] as? String == PayloadTimestamp.iso8601(sentAt))
        let body = try #require(json["data"] as? [String: Any])
        #expect(body["notification_id"] as? String == "msg_1")
        #expect(body["ticket"] as? Int == 42)
        #expect(body["ticket_id"] as? String == "IGP-2026-0042")
        #expect(body["rule"] as? String == "late")
        #expect(body["scheduled_date"] as? String == "2026-11-18 23:59:59")
        #expect(body["due_at"] as? String == PayloadTimestamp.iso8601(Fixtures.dueAt))
        #expect(body["overdue_seconds"] as? Int == 3_661)
        #expect(body["detected_at"] as? String == PayloadTimestamp.iso8601(Fixtures.dueAt.addingTimeInterval(600)), "the tick that found it")
        #expect(body["title"] as? String == "Four n°3 : \"joint\" à changer")
        #expect(body["description"] as? String == "Ligne 1\nLigne 2 — ✅ emoji")
        #expect(body["status"] as? String == "received")
        #expect(body["priority"] as? String == "high")
        #expect(body["created_at"] as? String == "2026-11-01 08:00:00")
        #expect(body["is_machine_down"] as? Bool == true)
        let machine = try #require(body["machine"] as? [String: Any])
        #expect(machine["type"] as? String == "Four")
        #expect(machine["id"] as? Int == 7)
        #expect(machine["model"] as? String == "Bystronic X1")
        #expect(machine["location"] as? String == "Atelier A")
        #expect(machine["is_down"] as? Bool == true)
        let assignee = try #require(body["assignee"] as? [String: Any])
        #expect(assignee["id"] as? Int == 12)
        #expect(assignee["name"] as? String == "Marie Tremblay")
        #expect(assignee["whole_team"] as? Bool == false)
        let reporter = try #require(body["reporter"] as? [String: Any])
        #expect(reporter["name"] as? String == "Luc Gagnon")
        #expect(reporter["id"] as? Int == 3)

        // assigned_to = 0: the whole team.
        let team = try PayloadRenderer.render(format: .standard, snapshot: Fixtures.snapshot(assignedTo: 0, assigneeName: nil),
                                              notificationID: "msg_2", sentAt: sentAt)
        let teamJSON = try #require(try JSONSerialization.jsonObject(with: team) as? [String: Any])
        let teamAssignee = try #require((teamJSON["data"] as? [String: Any])?["assignee"] as? [String: Any])
        #expect(teamAssignee["whole_team"] as? Bool == true)
        #expect(teamAssignee["id"] as? Int == 0)
        #expect(teamAssignee["label"] as? String == "Équipe complète")
    }

    @Test func badSnapshotIsAPayloadError() {
        #expect(throws: PayloadError.self) {
            try PayloadRenderer.render(format: .standard, snapshotJSON: Data("{".utf8), notificationID: "x", sentAt: Date())
        }
    }
}

@Suite struct TemplatePayloadTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")

    func render(_ source: String, snapshot: TicketSnapshot = Fixtures.snapshot()) throws -> [String: Any] {
        let data = try PayloadRenderer.render(format: .template(path: "t.mustache", source: source), snapshot: snapshot,
                                              notificationID: "msg_t", sentAt: Fixtures.dueAt.addingTimeInterval(twoDaysLate))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func variablesAreJSONEscaped() throws {
        let json = try render(#"{"t":"{{title}}","d":"{{description}}","n":{{overdue_days}},"o":"{{overdue_text}}","id":"{{notification_id}}","a":"{{assigned_to}}"}"#)
        #expect(json["t"] as? String == "Four n°3 : \"joint\" à changer")
        #expect(json["d"] as? String == "Ligne 1\nLigne 2 — ✅ emoji")
        #expect(json["n"] as? Int == 2)
        #expect(json["o"] as? String == "2 jour(s) 9h 26min")
        #expect(json["id"] as? String == "msg_t")
        #expect(json["a"] as? String == "Marie Tremblay")
    }

    @Test func rawLegacyJSONAndSections() throws {
        let json = try render(#"{"legacy":{{{legacy_json}}},"down":{{#is_machine_down}}true{{/is_machine_down}}{{^is_machine_down}}false{{/is_machine_down}}}"#)
        let legacy = try #require(json["legacy"] as? [String: Any])
        #expect(legacy["overdue_text"] as? String == "2 jour(s) 9h 26min")
        #expect(json["down"] as? Bool == true)
    }

    @Test func invalidJSONOutputIsAClearError() {
        do {
            _ = try render(#"{"t": {{title}} }"#)
            Issue.record("expected an error")
        } catch let error as PayloadError {
            #expect(error.kind == .templateOutputNotJSON)
            #expect(error.message.contains("t.mustache"))
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: PayloadError.self) { try render("{{#open}}") }
    }

    /// A partial or parent names another template, which overdued does not load: the
    /// library rendered it as nothing, and `check-config` said valid. Refused where it is,
    /// through delimiter changes too.
    @Test(arguments: [
        ("{\"a\": \"{{> part}}\"}", "line 1, column 8"),
        ("{\n  \"a\": \"{{title}}\",\n  \"b\": \"{{<base}}{{/base}}\"\n}", "line 3, column 9"),
        ("{{=<% %>=}}{\"a\": \"<%title%>\", \"é\": \"<%> part%>\"}", "line 1, column 37"),
    ] as [(String, String)])
    func aPartialOrParentIsRefusedWhereItIs(source: String, place: String) {
        let problem = TemplatePayload.problem(source: source, path: "/etc/overdued/t.mustache")
        #expect(problem?.hasPrefix("the template /etc/overdued/t.mustache cannot be parsed: \(place): a partial ({{> name}}) or parent") == true,
                "\(problem ?? "nil")")
    }

    /// Sections nest 100 deep at most: the library parses and renders them by recursion, and
    /// 700 levels overflowed the stack in `check-config`, at start and in a running daemon's
    /// reload (fuzzing). Refused where the first level too many opens; 100 levels render.
    @Test func sectionsNestedTooDeepAreRefusedWhereTheyBegin() {
        func nested(_ levels: Int) -> String {
            "{\"t\": \"" + String(repeating: "{{#title}}", count: levels) + "x" + String(repeating: "{{/title}}", count: levels) + "\"}"
        }
        #expect(TemplatePayload.problem(source: nested(100), path: "/t.mustache") == nil)
        for levels in [101, 700, 100_000] {
            let problem = TemplatePayload.problem(source: nested(levels), path: "/t.mustache")
            #expect(problem == "the template /t.mustache cannot be parsed: line 1, column 1008: sections nested more than 100 deep",
                    "\(problem ?? "nil")")
        }
        // After a delimiter change, split on any white space as the library does (a line break,
        // a no-break space): the sections were not counted, and 1,500 levels crashed.
        for change in ["{{=<%\n%>=}}", "{{=<%\u{A0}%>=}}", "{{=<%\t%>=}}"] {
            let source = change + "{\"t\": \"" + String(repeating: "<%#title%>", count: 101) + "x" + String(repeating: "<%/title%>", count: 101) + "\"}"
            let problem = TemplatePayload.problem(source: source, path: "/t.mustache")
            #expect(problem?.hasSuffix("sections nested more than 100 deep") == true, "\(change.debugDescription): \(problem ?? "nil")")
        }
        // What does not open a level: a comment, whatever it starts with; what does: a block
        // ({{$…}}), which the library nests by the same recursion. A stray close before the
        // sections does not lower the count below nothing (it would have let 101 through).
        let comments = String(repeating: "{{! #note }}{{!^note}}", count: 150)
        #expect(TemplatePayload.problem(source: comments + nested(100), path: "/t.mustache") == nil)
        let blocks = String(repeating: "{{$b}}", count: 101) + String(repeating: "{{/b}}", count: 101)
        #expect(TemplatePayload.problem(source: blocks, path: "/t.mustache")?.hasSuffix("sections nested more than 100 deep") == true)
        let strayCloses = String(repeating: "{{/title}}", count: 5)
        #expect(TemplatePayload.problem(source: strayCloses + nested(101), path: "/t.mustache")?.hasSuffix("sections nested more than 100 deep") == true)
        // Closed sections leave the depth: 150 side by side are no nesting.
        let sideBySide = "{\"t\": \"" + String(repeating: "{{#title}}x{{/title}}{{^title}}y{{/title}}", count: 150) + "\"}"
        #expect(TemplatePayload.problem(source: sideBySide, path: "/t.mustache") == nil)
    }

    @Test func triplesAndDelimiterChangesAreNoPartials() {
        #expect(TemplatePayload.firstRefusedTag(in: "{\"l\": {{{legacy_json}}}, \"t\": \"{{title}}\"}") == nil)
        #expect(TemplatePayload.firstRefusedTag(in: "{{=<% %>=}}{\"t\": \"{{> not a tag now}}\"}") == nil)
        #expect(TemplatePayload.problem(source: "{{=<% %>=}}{\"t\": \"<%title%> {{> text}}\"}", path: "/t.mustache") == nil)
    }

    /// The classic Mustache list mistake renders a comma after the last item. Foundation's
    /// parser takes it; Slack, ntfy and Python's json refuse the body. Refused where the
    /// config is checked, saying where in the output.
    @Test func aTrailingCommaInTheOutputIsRefused() {
        let problem = TemplatePayload.problem(source: "{\"text\": \"{{title}}\",\n \"fields\": [\"{{ticket_id}}\",],\n}",
                                              path: "/etc/overdued/t.mustache")
        #expect(problem?.contains("the template /etc/overdued/t.mustache did not render valid JSON (output line 2, column 29: a comma before ']'") == true,
                "\(problem ?? "nil")")
        #expect(TemplatePayload.problem(source: "{\"text\": \"{{title}}\",\n \"fields\": [\"{{ticket_id}}\"]\n}",
                                        path: "/etc/overdued/t.mustache") == nil)
        #expect(TemplatePayload.problem(source: " \"{{title}}\" ", path: "/t.mustache")?.contains("must render a JSON object or array") == true)
    }

    /// A syntax error names the file, the line and the column in that file (not in the text
    /// overdued parses, which starts with its content-type pragma), without the parser's internals.
    @Test(arguments: [
        // Where the parser stops: past the end, at the wrong name, where "}}" should be.
        (#"{"text": "{{#title}}"}"#, "line 1, column 23: the template ends inside a section: a {{#…}} or {{^…}} has no {{/…}}"),
        (#"{"text": "{{#title}}{{/titel}}"}"#, "line 1, column 24: this {{/…}} does not close the section that is open"),
        ("{\n  \"a\": \"{{ticket_id}}\",\n  \"b\": \"{{#x}}{{/y}}\"\n}", "line 3, column 18: this {{/…}} does not close the section that is open"),
        (#"{"text": "{{title"}"#, "line 1, column 18: a tag is not finished"),
    ] as [(String, String)])
    func aSyntaxErrorSaysWhereInTheFile(source: String, expected: String) {
        let problem = TemplatePayload.problem(source: source, path: "/etc/overdued/t.mustache")
        #expect(problem?.hasPrefix("the template /etc/overdued/t.mustache cannot be parsed: \(expected)") == true, "\(problem ?? "nil")")
        #expect(problem?.contains("ParserError") == false && problem?.contains("CONTENT_TYPE") == false
                && problem?.contains("OVERDUED_JSON") == false, "\(problem ?? "nil")")
    }

    /// A title holding Slack's control sequences (a mention of the whole channel, a link
    /// under another text) is shown as text when the template selects SLACK_JSON, as the
    /// shipped Slack example does; other templates keep the text as it is.
    @Test func slackJSONWritesSlacksControlSequencesAsText() throws {
        let title = "<!channel> <https://evil.example/login|Cliquez ici> & \"q\" <@U12345>"
        let snapshot = Fixtures.snapshot(title: title)
        let slack = try render("{{% CONTENT_TYPE: SLACK_JSON }}\n" + #"{"text": "*{{title}}*", "raw": "{{{ticket}}}"}"#, snapshot: snapshot)
        #expect(slack["text"] as? String == "*&lt;!channel&gt; &lt;https://evil.example/login|Cliquez ici&gt; &amp; \"q\" &lt;@U12345&gt;*")
        #expect(slack["raw"] as? String == "42")
        let plain = try render(#"{"text": "{{title}}"}"#, snapshot: snapshot)
        #expect(plain["text"] as? String == title)

        let example = try String(contentsOfFile: Self.examples.appendingPathComponent("slack.mustache").path, encoding: .utf8)
        let shipped = try render(example, snapshot: snapshot)
        let text = try #require(shipped["text"] as? String)
        #expect(!text.contains("<!channel>") && text.contains("&lt;!channel&gt;"), "\(text)")
    }

    @Test(arguments: ["slack.mustache", "ntfy.mustache"])
    func shippedExamplesRenderValidJSON(name: String) throws {
        let path = Self.examples.appendingPathComponent(name).path
        let source = try String(contentsOfFile: path, encoding: .utf8)
        for snapshot in [Fixtures.snapshot(), Fixtures.snapshot(title: "Quote \" backslash \\ \n newline", machine: nil, assignedTo: 0)] {
            let json = try render(source, snapshot: snapshot)
            if name == "slack.mustache" {
                let text = try #require(json["text"] as? String)
                #expect(text.contains(snapshot.ticketID))
                #expect(text.contains(snapshot.title))
            } else {
                #expect(json["topic"] as? String == "maintenance-retards")
                #expect((json["message"] as? String)?.hasPrefix(snapshot.title) == true)
                #expect(json["priority"] as? Int == 5)
            }
        }
    }
}
