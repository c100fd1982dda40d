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
}
