public import Foundation

/// A JSON value whose object members keep their order, written compactly.
///
/// The legacy payload must come out exactly as the old automation (JavaScript,
/// `JSON.stringify`) wrote it: fields in their historical order, non-ASCII text as UTF-8
/// and `/` not escaped. `JSONSerialization` and `JSONEncoder` guarantee neither, so payloads
/// are written by this small writer. The outbox snapshots use it too: it is several times
/// faster than `JSONEncoder` on Linux, and a scan writes one per overdue ticket.
public enum PayloadJSON: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case null
    case object([Member])
    case array([PayloadJSON])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: PayloadJSON

        public init(key: String, value: PayloadJSON) {
            self.key = key
            self.value = value
        }
    }

    /// `.string` for a value, `.null` for nil.
    public static func optional(_ text: String?) -> PayloadJSON {
        text.map(PayloadJSON.string) ?? .null
    }

    public static func optional(_ number: Int64?) -> PayloadJSON {
        number.map(PayloadJSON.integer) ?? .null
    }

    /// Compact JSON text (no spaces), like `JSON.stringify(value)`.
    public var text: String {
        var output = ""
        write(into: &output)
        return output
    }

    public var data: Data { Data(text.utf8) }

    private func write(into output: inout String) {
        switch self {
        case .string(let text):
            output += "\""
            output += Self.escaped(text)
            output += "\""
        case .integer(let number):
            output += String(number)
        case .bool(let flag):
            output += flag ? "true" : "false"
        case .null:
            output += "null"
        case .object(let members):
            output += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { output += "," }
                output += "\""
                output += Self.escaped(member.key)
                output += "\":"
                member.value.write(into: &output)
            }
            output += "}"
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                element.write(into: &output)
            }
            output += "]"
        }
    }

    /// The inside of a JSON string literal (without the quotes), escaped as
    /// `JSON.stringify` does: quote, backslash and control characters only.
    public static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

extension PayloadJSON: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, PayloadJSON)...) {
        self = .object(elements.map { Member(key: $0.0, value: $0.1) })
    }
}
