/// Text from outside (a ticket's fields as the app wrote them, a receiver's answer) as a
/// terminal or a log line shows it: control characters written as escapes (`\n`, `\r`, `\t`,
/// `\u{1B}`) instead of acted on. A ticket id holding an escape sequence would otherwise
/// retitle or clear the operator's terminal through `overdued scan` or `history`, a line
/// break would start what reads as another log line, and a bidirectional override would show
/// the rest of a line reversed.
public enum PrintableText {
    /// `text` itself when it has nothing to escape (the usual case, checked byte by byte).
    /// - Parameter keepingLineBreaks: `\n` stays a line break (text laid out in lines by
    ///   overdued itself, such as pretty-printed JSON).
    public static func escaped(_ text: String, keepingLineBreaks: Bool = false) -> String {
        guard needsEscapes(text) else { return text }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            if keepingLineBreaks, scalar == "\n" {
                result += "\n"
            } else {
                append(scalar, to: &result)
            }
        }
        return result
    }

    /// Appends `scalar` to `text`, as its escape when it is a control (`isControl`).
    public static func append(_ scalar: Unicode.Scalar, to text: inout String) {
        switch scalar {
        case "\n": text += "\\n"
        case "\r": text += "\\r"
        case "\t": text += "\\t"
        default:
            if isControl(scalar) {
                text += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                text.unicodeScalars.append(scalar)
            }
        }
    }

    /// C0 controls, DEL, the C1 controls (U+0080–U+009F; some terminals act on them), the
    /// line and paragraph separators (U+2028, U+2029), and the bidirectional formatting
    /// characters: the embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
    /// the invisible marks (U+200E, U+200F, U+061C), which move the neutral characters around
    /// them (a `-`, a `/`, digits) to the other side of a word.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Over the string's own bytes when it has them in one piece (native strings do): `scan`
    /// asks this for two values of each of its 10,000 lines.
    private static func needsEscapes(_ text: String) -> Bool {
        if let found = text.utf8.withContiguousStorageIfAvailable(needsEscapes) { return found }
        return Array(text.utf8).withUnsafeBufferPointer(needsEscapes)
    }

    private static func needsEscapes(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in bytes.indices {
            let byte = bytes[index]
            if byte < 0x20 || byte == 0x7F { return true }
            // C1 controls are 0xC2 0x80–0x9F, U+061C is 0xD8 0x9C, U+200E–U+202E are 0xE2 0x80
            // 0x8E–0xAE and U+2066–U+2069 0xE2 0x81 0xA6–0xA9: the first byte is enough to look
            // closer.
            if byte == 0xC2 || byte == 0xD8 || byte == 0xE2 {
                let end = min(bytes.count, index + 3)
                if String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<end]), as: UTF8.self).unicodeScalars.first.map(isControl) == true {
                    return true
                }
            }
        }
        return false
    }
}
