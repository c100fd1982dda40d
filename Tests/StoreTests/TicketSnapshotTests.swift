import Foundation
import Store
import Testing

@Suite struct TicketSnapshotTests {
    static func snapshot(machine: TicketSnapshot.Machine?, assignedTo: Int64?) -> TicketSnapshot {
        TicketSnapshot(
            rule: "overdue", ticket: 42, ticketID: "IGP-PRESSE-PH 450-20251230-042", title: "Fuite \"urgente\" 🔥 \\ / é",
            description: "ligne 1\nligne 2\t\u{01}", status: "private", priority: "critical", machine: machine,
            assignedTo: assignedTo, assigneeName: nil, reportedBy: 3, reporterName: "Zoé Côté", createdAt: nil,
            scheduledDate: "2026-11-23", dueAt: Date(timeIntervalSince1970: 1_795_532_700.123),
            isMachineDown: true, detectedAt: Date(timeIntervalSince1970: 1_795_600_000))
    }

    /// What the outbox stores reads back as the same ticket (dates to the millisecond).
    @Test(arguments: [
        (TicketSnapshot.Machine(id: 7, type: "Four", model: nil, location: "Atelier 2"), Int64?.some(0)),
        (nil, nil),
    ])
    func encodedSnapshotsDecodeToTheSameTicket(machine: TicketSnapshot.Machine?, assignedTo: Int64?) throws {
        let original = Self.snapshot(machine: machine, assignedTo: assignedTo)
        let data = original.encoded()
        #expect(try JSONSerialization.jsonObject(with: data) is [String: Any], "valid JSON")
        let decoded = try TicketSnapshot.decode(data)
        #expect(decoded == original)
    }

    /// The snapshot is written member by member, straight into bytes: the same text, member
    /// for member, as the `PayloadJSON` tree of it (which the payload tests pin down).
    @Test(arguments: [
        (TicketSnapshot.Machine(id: -7, type: "Four", model: nil, location: "Atelier 2"), Int64?.some(Int64.min)),
        (TicketSnapshot.Machine(id: nil, type: nil, model: nil, location: nil), Int64?.some(0)),
        (nil, Int64?.some(Int64.max)),
        (nil, nil),
    ])
    func encodedSnapshotIsTheSameTextAsItsPayloadJSONTree(machine: TicketSnapshot.Machine?, assignedTo: Int64?) {
        let s = Self.snapshot(machine: machine, assignedTo: assignedTo)
        let machineJSON: PayloadJSON = s.machine.map {
            ["id": .optional($0.id), "type": .optional($0.type), "model": .optional($0.model), "location": .optional($0.location)]
        } ?? .null
        let tree: PayloadJSON = [
            "rule": .string(s.rule), "ticket": .integer(s.ticket), "ticket_id": .string(s.ticketID), "title": .string(s.title),
            "description": .string(s.description), "status": .string(s.status), "priority": .string(s.priority),
            "machine": machineJSON, "assigned_to": .optional(s.assignedTo), "assignee_name": .optional(s.assigneeName),
            "reported_by": .optional(s.reportedBy), "reporter_name": .optional(s.reporterName),
            "created_at": .optional(s.createdAt), "scheduled_date": .string(s.scheduledDate),
            "due_at": .integer(1_795_532_700_123), "is_machine_down": .bool(s.isMachineDown),
            "detected_at": .integer(1_795_600_000_000),
        ]
        #expect(String(decoding: s.encoded(), as: UTF8.self) == tree.text)
    }
}

/// The `--json` listings (`history`, `queue`, `scan`) are written by `PayloadJSON.prettyText`:
/// the same text `JSONSerialization` wrote with `.prettyPrinted, .sortedKeys,
/// .withoutEscapingSlashes`, but for empty lists and objects (`[]` rather than `[\n\n]`).
@Suite struct PrettyJSONTests {
    @Test func sameTextAsJSONSerializationWithSortedKeys() throws {
        let value: PayloadJSON = .array([
            ["ticket_id": .string("IGP \"7\" \\ é/\n\u{01}"), "ticket": .integer(-42), "last_error": .null, "on_hold": .bool(true),
             "attempt_log": .array([["started_at": .string("2026-11-24T15:00:00.000Z"), "http_status": .integer(503)]]),
             "destination": .string("hook"), "dead_at": .optional(nil as String?)],
            ["a_b": .integer(0), "ab": .integer(Int64.max), "a": .bool(false)],
        ])
        let foundation: Any = [
            ["ticket_id": "IGP \"7\" \\ é/\n\u{01}", "ticket": -42, "last_error": NSNull(), "on_hold": true,
             "attempt_log": [["started_at": "2026-11-24T15:00:00.000Z", "http_status": 503]],
             "destination": "hook", "dead_at": NSNull()] as [String: Any],
            ["a_b": 0, "ab": Int64.max, "a": false] as [String: Any],
        ]
        let expected = try JSONSerialization.data(withJSONObject: foundation, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        #expect(value.prettyText() == String(decoding: expected, as: UTF8.self))
        // Parsed back, the same values.
        let parsed = try JSONSerialization.jsonObject(with: Data(value.prettyText().utf8)) as? [[String: Any]]
        #expect(parsed?.first?["ticket_id"] as? String == "IGP \"7\" \\ é/\n\u{01}")
    }

    @Test func emptyListsAndObjectsAreWrittenOnOneLine() {
        #expect(PayloadJSON.array([]).prettyText() == "[]")
        #expect(PayloadJSON.array([["destinations": .array([]), "x": .object([])]]).prettyText()
                == "[\n  {\n    \"destinations\" : [],\n    \"x\" : {}\n  }\n]")
        // Without sorting, the members keep their order.
        #expect(PayloadJSON.object([.init(key: "b", value: .null), .init(key: "a", value: .null)]).prettyText(sortingKeys: false)
                == "{\n  \"b\" : null,\n  \"a\" : null\n}")
    }
}
