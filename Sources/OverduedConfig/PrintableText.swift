/// Text from outside (a ticket's fields as the app wrote them, a receiver's answer) as a
/// terminal or a log line shows it: control characters written as escapes (`\n`, `\r`, `\t`,
/// `\u{1B}`) instead of acted on. A ticket id holding an escape sequence would otherwise
/// retitle or clear the operator's terminal through `overdued scan` or `history`, and a line
/// break would start what reads as another log line.
public enum PrintableText {
    /// `text` itself when it has no control character (the usual case, checked byte by byte).
    public static func escaped(_ text: String) -> String {
        guard needsEscapes(text) else { return text }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if isControl(scalar) {
                    result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// C0 controls, DEL and the C1 controls (U+0080–U+009F; some terminals act on them).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// Over the string's own bytes when it has them in one piece (native strings do): `scan`
    /// asks this for two values of each of its 10,000 lines.
    private static func needsEscapes(_ text: String) -> Bool {
        if let found = text.utf8.withContiguousStorageIfAvailable(needsEscapes) { return found }
        return Array(text.utf8).withUnsafeBufferPointer(needsEscapes)
    }

    private static func needsEscapes(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var previous: UInt8 = 0
        for byte in bytes {
            // C1 controls are encoded as 0xC2 0x80–0x9F.
            if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) { return true }
            previous = byte
        }
        return false
    }
}
