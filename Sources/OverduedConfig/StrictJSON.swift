/// The syntax of JSON as RFC 8259 defines it, checked byte by byte.
///
/// Foundation's parsers on Linux accept more than JSON: a comma before `]` or `}` passes
/// them. Strict readers (Python's `json`, `jq`, Slack, ntfy) refuse such a text, so a config
/// file or a rendered template that Foundation alone had checked could be "valid" here and
/// broken everywhere else. This check runs first and says where the text leaves JSON.
///
/// Beyond the grammar, it refuses what no reader can hold: a lone UTF-16 surrogate in a
/// `\u` escape, and a number past a double or too small for one (refused by Foundation in words that name
/// neither). Iterative (an explicit stack), so no nesting depth can exhaust the thread's stack.
public enum StrictJSON {
    public struct SyntaxError: Error, Equatable, CustomStringConvertible, Sendable {
        /// 1-based line, and column in characters (Unicode scalars) within it.
        public var line: Int
        public var column: Int
        public var message: String

        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// Nil when `bytes` hold exactly one JSON text (whitespace around it allowed), else the
    /// first place where they do not.
    /// - Parameter allowingByteOrderMark: skip a leading UTF-8 byte order mark, as RFC 8259
    ///   lets a reader do (a config saved by an editor that writes one); a request body must
    ///   not start with one.
    public static func syntaxError(in bytes: [UInt8], allowingByteOrderMark: Bool = false) -> SyntaxError? {
        var reader = Reader(bytes: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            guard allowingByteOrderMark else {
                return reader.error("the text starts with a byte order mark (U+FEFF), which JSON sent over the wire must not have")
            }
            reader.index = 3
        }
        return reader.document()
    }

    private enum Container {
        case object
        case array

        var close: UInt8 { self == .object ? UInt8(ascii: "}") : UInt8(ascii: "]") }
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        func error(_ message: String) -> SyntaxError {
            var line = 1
            var column = 1
            for byte in bytes[..<min(index, bytes.count)] {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return SyntaxError(line: line, column: column, message: message)
        }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        /// What stands at `index`, for messages: `']'`, or "the end of the text".
        var found: String {
            guard let byte = current else { return "the end of the text" }
            if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            return byte < 0x80 ? "the control character 0x\(String(byte, radix: 16, uppercase: true))" : "a non-ASCII character"
        }

        mutating func document() -> SyntaxError? {
            var stack: [Container] = []
            skipWhitespace()
            // Each turn reads one value; containers are opened on the stack and closed in the
            // loop below, which also reads the separators between members and elements.
            while true {
                if let problem = value(&stack) { return problem }
                // After a value: close what ends here, then find the next value's place.
                while true {
                    skipWhitespace()
                    guard let container = stack.last else {
                        return current == nil ? nil : error("\(found) after the end of the JSON value (one value per text)")
                    }
                    let close = container.close
                    if current == close {
                        index += 1
                        stack.removeLast()
                        continue
                    }
                    guard current == UInt8(ascii: ",") else {
                        return error(container == .object ? "expected ',' or '}' after a member, found \(found)"
                                                          : "expected ',' or ']' after an element, found \(found)")
                    }
                    index += 1
                    skipWhitespace()
                    if current == close {
                        return error("a comma before '\(Character(Unicode.Scalar(close)))': JSON allows no trailing comma")
                    }
                    if container == .object, let problem = key() { return problem }
                    break
                }
            }
        }

        /// A member's key and its colon.
        mutating func key() -> SyntaxError? {
            guard current == UInt8(ascii: "\"") else { return error("expected a key in double quotes, found \(found)") }
            if let problem = string() { return problem }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return error("expected ':' after the key, found \(found)") }
            index += 1
            skipWhitespace()
            return nil
        }

        /// One value; an object or array is opened (pushed) and its first member read up to
        /// its value, or closed at once when empty.
        mutating func value(_ stack: inout [Container]) -> SyntaxError? {
            while true {
                guard let byte = current else { return error("expected a value, found the end of the text") }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    let container: Container = byte == UInt8(ascii: "{") ? .object : .array
                    index += 1
                    skipWhitespace()
                    if current == container.close {
                        index += 1
                        return nil
                    }
                    stack.append(container)
                    if container == .object, let problem = key() { return problem }
                case UInt8(ascii: "\""):
                    return string()
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    return number()
                case UInt8(ascii: "t"): return literal("true")
                case UInt8(ascii: "f"): return literal("false")
                case UInt8(ascii: "n"): return literal("null")
                default:
                    return error("expected a value (an object, array, string, number, true, false or null), found \(found)")
                }
            }
        }

        mutating func literal(_ word: String) -> SyntaxError? {
            let expected = Array(word.utf8)
            guard bytes[index...].starts(with: expected) else { return error("expected \(word) (JSON's literals are lowercase), found \(found)") }
            index += expected.count
            return nil
        }

        mutating func digits() -> Int {
            let start = index
            while let byte = current, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { index += 1 }
            return index - start
        }

        mutating func number() -> SyntaxError? {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
                if let byte = current, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    return error("a number cannot have a leading zero")
                }
            } else if digits() == 0 {
                return error("expected a digit, found \(found)")
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return error("expected a digit after the decimal point, found \(found)") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return error("expected a digit in the exponent, found \(found)") }
            }
            // The grammar has no bound; a reader keeps a double, and Foundation refuses more.
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if let value = Double(text) {
                let mantissa = text.prefix { $0 != "e" && $0 != "E" }
                if !value.isFinite {
                    index = start
                    return error("a number beyond what a double holds (about 1.8e308)")
                }
                if value == 0, mantissa.contains(where: { ("1"..."9").contains($0) }) {
                    index = start
                    return error("a number too small for a double (it would read as 0; the least is about 5e-324)")
                }
            }
            return nil
        }

        /// After `\u`: its four hexadecimal digits as a number, `index` past them; nil when
        /// they are not four.
        mutating func hexUnit() -> Int? {
            index += 1
            var unit = 0
            for _ in 0..<4 {
                guard let hex = current, let digit = Int(String(Unicode.Scalar(hex)), radix: 16) else { return nil }
                unit = unit * 16 + digit
                index += 1
            }
            return unit
        }

        /// After a high surrogate: whether `\uDC00`–`\uDFFF` follows, and then `index` past it.
        mutating func lowSurrogateFollows() -> Bool {
            let before = index
            guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else { return false }
            index += 1
            if let unit = hexUnit(), (0xDC00...0xDFFF).contains(unit) { return true }
            index = before
            return false
        }

        mutating func string() -> SyntaxError? {
            index += 1
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return nil
                case UInt8(ascii: "\\"):
                    index += 1
                    switch current {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        let escape = index - 1
                        guard let unit = hexUnit() else { return error("\\u needs four hexadecimal digits, found \(found)") }
                        // The grammar takes any four digits; text cannot hold half of a
                        // character beyond U+FFFF, and Foundation refuses one in its own words.
                        if (0xDC00...0xDFFF).contains(unit) || ((0xD800...0xDBFF).contains(unit) && !lowSurrogateFollows()) {
                            index = escape
                            return error("a lone UTF-16 surrogate: a character beyond U+FFFF is written as a pair (\\uD83D\\uDE00), never half of one")
                        }
                    default:
                        index -= 1
                        return error("an unknown escape in a string: JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX")
                    }
                case 0x00..<0x20:
                    return error("a control character inside a string (write it as \\n, \\t or \\u00XX)")
                default:
                    index += 1
                }
            }
            return error("a string is not closed: the text ends before its closing '\"'")
        }
    }
}
