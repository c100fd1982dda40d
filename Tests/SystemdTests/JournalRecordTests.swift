import Logging
import Systemd
import Testing

struct JournalRecordTests {
    @Test func aRecordEncodesExactly() {
        let fields = JournalRecord.fields(
            level: .warning,
            message: "ticket has an unreadable scheduled_date",
            metadata: ["ticket_id": "IGP-2026-0001", "event": "bad_row", "ticket": .stringConvertible(42)],
            identifier: "overdued",
            file: "Scheduler/TickLoop.swift",
            function: "tick(now:)",
            line: 87
        )
        #expect(fields.map(\.description) == [
            "MESSAGE=ticket has an unreadable scheduled_date",
            "PRIORITY=4",
            "SYSLOG_IDENTIFIER=overdued",
            "CODE_FILE=Scheduler/TickLoop.swift",
            "CODE_LINE=87",
            "CODE_FUNC=tick(now:)",
            "EVENT=bad_row",
            "TICKET=42",
            "TICKET_ID=IGP-2026-0001",
        ])
    }

    @Test func prioritiesAreSyslogNumbers() {
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        #expect(levels.map(JournalRecord.priority(for:)) == [7, 7, 6, 5, 4, 3, 2])
        let field = JournalRecord.fields(
            level: .critical, message: "m", metadata: [:], identifier: "overdued", file: "f", function: "g", line: 1
        ).first { $0.name == "PRIORITY" }
        #expect(field?.value == Array("2".utf8))
    }

    @Test(arguments: [
        ("event", "EVENT"), ("rule", "RULE"), ("ticket", "TICKET"), ("ticket_id", "TICKET_ID"),
        ("destination", "DESTINATION"), ("notification_id", "NOTIFICATION_ID"), ("attempt", "ATTEMPT"),
        ("http_status", "HTTP_STATUS"), ("duration_ms", "DURATION_MS"),
    ])
    func theInterfaceFieldsMapFromTheirMetadataKeys(key: String, field: String) {
        #expect(JournalRecord.fieldName(forMetadataKey: key) == field)
    }

    @Test(arguments: [
        ("error.message", "ERROR_MESSAGE"),
        ("Ticket-ID", "TICKET_ID"),
        ("a  b..c", "A_B_C"),
        ("_private", "PRIVATE"),
        ("__trusted__", "TRUSTED"),
        ("héllo wörld", "H_LLO_W_RLD"),
        ("2fa", "META_2FA"),
        ("message", "META_MESSAGE"),
        ("priority", "META_PRIORITY"),
        ("syslog.identifier", "META_SYSLOG_IDENTIFIER"),
        ("code_line", "META_CODE_LINE"),
        ("message_id", "MESSAGE_ID"),
    ])
    func invalidKeysAreNormalised(key: String, field: String) {
        #expect(JournalRecord.fieldName(forMetadataKey: key) == field)
    }

    @Test(arguments: ["", "_", "___", "ñ", "..", "日本"])
    func keysWithNothingUsableAreDropped(key: String) {
        #expect(JournalRecord.fieldName(forMetadataKey: key) == nil)
        let fields = JournalRecord.fields(
            level: .info, message: "m", metadata: [key: "v"], identifier: "overdued", file: "f", function: "g", line: 1
        )
        #expect(fields.count == 6)
    }

    @Test func namesAreCutTo64Characters() throws {
        let name = try #require(JournalRecord.fieldName(forMetadataKey: String(repeating: "k", count: 100)))
        #expect(name == String(repeating: "K", count: 64))
        let prefixed = try #require(JournalRecord.fieldName(forMetadataKey: "9" + String(repeating: "x", count: 100)))
        #expect(prefixed.count == 64)
        #expect(prefixed.hasPrefix("META_9XX"))
    }

    @Test func everyProducedNameIsValidForJournald() {
        let keys = ["a", "ticket id", "_x", "9", "x-y.z", String(repeating: "é", count: 80) + "z", "MESSAGE", "ok_"]
        let named = keys.compactMap { key in JournalRecord.fieldName(forMetadataKey: key).map { (key, $0) } }
        #expect(named.map(\.1).contains("TICKET_ID") && named.count >= keys.count - 2, "\(named)")
        for (key, name) in named {
            #expect(name.count <= 64, "\(key)")
            #expect(name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }, "\(key) → \(name)")
            #expect(name.first != "_" && !(name.first?.isNumber ?? true), "\(key) → \(name)")
            #expect(!JournalRecord.ownFieldNames.contains(name), "\(key) → \(name)")
        }
    }

    @Test func multiLineValuesKeepEveryByte() {
        let message = "delivery failed:\nHTTP 500\r\n\u{0}tail é"
        let fields = JournalRecord.fields(
            level: .error, message: message, metadata: ["body": "line1\nline2\n"],
            identifier: "overdued", file: "f", function: "g", line: 1
        )
        #expect(fields.first == JournalField(name: "MESSAGE", value: Array(message.utf8)))
        #expect(fields.last == JournalField(name: "BODY", value: Array("line1\nline2\n".utf8)))
    }

    @Test func keysThatCollideAreBothKeptInAFixedOrder() {
        let fields = JournalRecord.fields(
            level: .info, message: "m", metadata: ["ticket_id": "b", "ticket-id": "a", "TICKET_ID": "c"],
            identifier: "overdued", file: "f", function: "g", line: 1
        )
        #expect(fields.dropFirst(6).map(\.description) == ["TICKET_ID=c", "TICKET_ID=a", "TICKET_ID=b"])
    }

    @Test func structuredMetadataIsRenderedAsText() {
        let fields = JournalRecord.fields(
            level: .info, message: "m", metadata: ["destinations": ["ops", "pager"]],
            identifier: "overdued", file: "f", function: "g", line: 1
        )
        #expect(fields.last?.description == #"DESTINATIONS=["ops", "pager"]"#)
    }

    @Test func theHandlerAcceptsRecordsWithoutAJournal() {
        // Without journald, sd_journal_sendv drops the record; logging must neither crash nor block.
        var logger = Logger(label: "test") { _ in JournalLogHandler(logLevel: .trace) }
        logger[metadataKey: "rule"] = "overdue-visits"
        logger.info("tick", metadata: ["event": "tick", "duration_ms": "12"])
        #expect(logger.logLevel == .trace)
        #expect(logger[metadataKey: "rule"] == "overdue-visits")
    }
}
