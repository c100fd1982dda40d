public import Logging

/// One journal field: `NAME=value`, where the value is bytes (it may hold newlines or any byte;
/// `sd_journal_sendv` switches to the length-prefixed form by itself when needed).
public struct JournalField: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(name: String, value: String) {
        self.init(name: name, value: Array(value.utf8))
    }

    public var description: String {
        "\(name)=\(String(decoding: value, as: UTF8.self))"
    }
}

/// How a log record becomes journal fields. Kept apart from the sending so tests can check the
/// encoding exactly: without journald, `sd_journal_sendv` succeeds silently and shows nothing.
public enum JournalRecord {
    /// The fields the handler sets itself; metadata keys that map onto one of them are renamed
    /// with a `META_` prefix instead of shadowing or duplicating it.
    public static let ownFieldNames: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
    ]

    /// The longest field name journald accepts.
    public static let maximumFieldNameLength = 64

    /// The record as fields, in a fixed order: `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`,
    /// `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`, then one field per metadata key, sorted by field
    /// name (keys with no usable characters are dropped; see ``fieldName(forMetadataKey:)``).
    public static func fields(
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        identifier: String,
        file: String,
        function: String,
        line: UInt
    ) -> [JournalField] {
        var fields = [
            JournalField(name: "MESSAGE", value: message),
            JournalField(name: "PRIORITY", value: String(priority(for: level))),
            JournalField(name: "SYSLOG_IDENTIFIER", value: identifier),
            JournalField(name: "CODE_FILE", value: file),
            JournalField(name: "CODE_LINE", value: String(line)),
            JournalField(name: "CODE_FUNC", value: function),
        ]
        let named = metadata.compactMap { key, value -> (name: String, key: String, value: String)? in
            guard let name = fieldName(forMetadataKey: key) else { return nil }
            return (name, key, value.description)
        }
        // Two keys can normalise to one name ("ticket-id", "ticket_id"): journald keeps both
        // values; the original key breaks the tie so the order stays deterministic.
        for entry in named.sorted(by: { ($0.name, $0.key) < ($1.name, $1.key) }) {
            fields.append(JournalField(name: entry.name, value: entry.value))
        }
        return fields
    }

    /// The syslog priority journald and `journalctl -p` use.
    public static func priority(for level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A metadata key as a journal field name, or nil when nothing usable is left.
    ///
    /// journald accepts only `A-Z`, `0-9` and `_`, at most 64 characters, not starting with a
    /// digit, and reserves a leading `_` for fields it adds itself; it drops a record with an
    /// invalid name whole, so keys are normalised rather than trusted: letters are upper-cased,
    /// every other character becomes `_` (runs collapsed, `_` trimmed at both ends), a name
    /// starting with a digit or equal to one of ``ownFieldNames`` gets a `META_` prefix, and
    /// the result is cut to 64 characters. `notification_id` → `NOTIFICATION_ID`,
    /// `error.message` → `ERROR_MESSAGE`.
    public static func fieldName(forMetadataKey key: String) -> String? {
        var name = ""
        var lastWasUnderscore = false
        for scalar in key.unicodeScalars {
            let character: Character
            switch scalar {
            case "A"..."Z", "0"..."9": character = Character(scalar)
            case "a"..."z": character = Character(Unicode.Scalar(scalar.value - 32) ?? "_")
            default: character = "_"
            }
            if character == "_" {
                if lastWasUnderscore || name.isEmpty { continue }
                lastWasUnderscore = true
            } else {
                lastWasUnderscore = false
            }
            name.append(character)
        }
        while name.last == "_" { name.removeLast() }
        guard let first = name.first else { return nil }
        if first.isASCII && first.isNumber || ownFieldNames.contains(name) {
            name = "META_" + name
        }
        return String(name.prefix(maximumFieldNameLength))
    }
}
