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
        String(decoding: bytes, as: UTF8.self)
    }

    public var data: Data { Data(bytes) }

    /// The UTF-8 of `text`, written into one buffer.
    public var bytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(into: &output)
        return output
    }

    private func write(into output: inout [UInt8]) {
        switch self {
        case .string(let text):
            output.append(UInt8(ascii: "\""))
            Self.appendEscaped(text, to: &output)
            output.append(UInt8(ascii: "\""))
        case .integer(let number):
            output.append(contentsOf: String(number).utf8)
        case .bool(let flag):
            output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .null:
            output.append(contentsOf: "null".utf8)
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output.append(UInt8(ascii: "\""))
                Self.appendEscaped(member.key, to: &output)
                output.append(UInt8(ascii: "\""))
                output.append(UInt8(ascii: ":"))
                member.value.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                element.write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
    }

    /// Indented text, as `JSONSerialization`'s `.prettyPrinted` wrote it (two spaces a level,
    /// `"key" : value`; `[]` and `{}` when empty), each object's members in key order when
    /// `sortingKeys` (byte order: the keys are ASCII). What `history`, `queue` and `scan`
    /// print with `--json`, written into one buffer: `JSONSerialization` took 19 s and
    /// 536 MB for 100,000 notifications, most of it sorting each object's keys through ICU
    /// collation.
    public func prettyText(sortingKeys: Bool = true) -> String {
        var output: [UInt8] = []
        writePretty(into: &output, depth: 0, sortingKeys: sortingKeys)
        return String(decoding: output, as: UTF8.self)
    }

    private func writePretty(into output: inout [UInt8], depth: Int, sortingKeys: Bool) {
        func newline(_ depth: Int) {
            output.append(UInt8(ascii: "\n"))
            output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
        }
        switch self {
        case .object(let members) where !members.isEmpty:
            output.append(UInt8(ascii: "{"))
            let ordered = sortingKeys ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } : members
            for (index, member) in ordered.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                output.append(UInt8(ascii: "\""))
                Self.appendEscaped(member.key, to: &output)
                output.append(contentsOf: "\" : ".utf8)
                member.value.writePretty(into: &output, depth: depth + 1, sortingKeys: sortingKeys)
            }
            newline(depth)
            output.append(UInt8(ascii: "}"))
        case .array(let elements) where !elements.isEmpty:
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                element.writePretty(into: &output, depth: depth + 1, sortingKeys: sortingKeys)
            }
            newline(depth)
            output.append(UInt8(ascii: "]"))
        default:
            write(into: &output)
        }
    }

    /// The inside of a JSON string literal (without the quotes), escaped as
    /// `JSON.stringify` does: quote, backslash and control characters only.
    public static func escaped(_ text: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        appendEscaped(text, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Works on UTF-8 bytes: every byte that needs escaping is ASCII, and no byte of a
    /// multi-byte sequence is below 0x80, so the other bytes are copied as they are.
    static func appendEscaped(_ text: String, to output: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            var index = 0
            while index < utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                    index += 1
                    continue
                }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                index += 1
                start = index
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): output.append(contentsOf: #"\\"#.utf8)
                case 0x0A: output.append(contentsOf: #"\n"#.utf8)
                case 0x0D: output.append(contentsOf: #"\r"#.utf8)
                case 0x09: output.append(contentsOf: #"\t"#.utf8)
                case 0x08: output.append(contentsOf: #"\b"#.utf8)
                case 0x0C: output.append(contentsOf: #"\f"#.utf8)
                default:
                    let digits: StaticString = "0123456789abcdef"
                    output.append(contentsOf: #"\u00"#.utf8)
                    output.append(digits.utf8Start[Int(byte >> 4)])
                    output.append(digits.utf8Start[Int(byte & 0x0F)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
    }
}

extension PayloadJSON: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, PayloadJSON)...) {
        self = .object(elements.map { Member(key: $0.0, value: $0.1) })
    }
}

/// Writes one JSON object member by member into a byte buffer, compactly, with the same
/// escaping as `PayloadJSON` (keys are ASCII literals and need none). For the hot paths
/// where building a `PayloadJSON` tree first would cost an allocation per member.
struct JSONObjectWriter {
    private var bytes: [UInt8] = []
    /// Whether the next member follows another one in its object.
    private var needsComma = false

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ key: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func null(_ name: StaticString) {
        key(name)
        bytes.append(contentsOf: "null".utf8)
    }

    mutating func member(_ name: StaticString, _ value: String?) {
        guard let value else { return null(name) }
        key(name)
        bytes.append(UInt8(ascii: "\""))
        PayloadJSON.appendEscaped(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func member(_ name: StaticString, _ value: Int64?) {
        guard let value else { return null(name) }
        key(name)
        // Digits straight into the buffer, last first, no `String` in between.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 20 digits and a sign
        var magnitude = value.magnitude
        withUnsafeMutableBytes(of: &digits) { buffer in
            var position = buffer.count
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                position -= 1
                buffer[position] = UInt8(ascii: "-")
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }

    mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func beginObject(_ name: StaticString) {
        key(name)
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    /// Closes the nested object, a member of its parent: the parent's next member needs a comma.
    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Closes the outermost object.
    mutating func finish() -> Data {
        bytes.append(UInt8(ascii: "}"))
        return Data(bytes)
    }
}
