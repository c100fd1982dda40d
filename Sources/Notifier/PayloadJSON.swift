import Foundation

/// A JSON value whose object members keep their order.
///
/// The legacy payload must come out exactly as the old automation (JavaScript,
/// `JSON.stringify`) wrote it: fields in their historical order, non-ASCII text as UTF-8
/// and `/` not escaped. `JSONSerialization` and `JSONEncoder` guarantee neither, so payloads
/// are written by this small writer.
enum PayloadJSON: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case null
    case object([Member])
    case array([PayloadJSON])

    struct Member: Sendable, Equatable {
        var key: String
        var value: PayloadJSON
    }

    /// `.string` for a value, `.null` for nil.
    static func optional(_ text: String?) -> PayloadJSON {
        text.map(PayloadJSON.string) ?? .null
    }

    static func optional(_ number: Int64?) -> PayloadJSON {
        number.map(PayloadJSON.integer) ?? .null
    }

    /// Compact JSON text (no spaces), like `JSON.stringify(value)`.
    var text: String {
        var output = ""
        write(into: &output)
        return output
    }

    var data: Data { Data(text.utf8) }

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
    static func escaped(_ text: String) -> String {
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
    init(dictionaryLiteral elements: (String, PayloadJSON)...) {
        self = .object(elements.map { Member(key: $0.0, value: $0.1) })
    }
}
