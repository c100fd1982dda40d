import TextEscaping
import Testing

/// What a terminal or log line shows of text from outside.
struct PrintableTextTests {
    @Test func controlCharactersAreWrittenAsEscapes() {
        #expect(PrintableText.escaped("IGP-2026-0042 Presse à café ☕") == "IGP-2026-0042 Presse à café ☕")
        #expect(PrintableText.escaped("") == "")
        #expect(PrintableText.escaped("IGP-1\u{1B}]0;owned\u{07}\u{1B}[2K") == "IGP-1\\u{1B}]0;owned\\u{7}\\u{1B}[2K")
        #expect(PrintableText.escaped("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(PrintableText.escaped("del\u{7F} csi\u{9B}2J nul\u{0}") == "del\\u{7F} csi\\u{9B}2J nul\\u{0}")
        // Above the C1 range, 0xC2 starts ordinary characters: kept.
        #expect(PrintableText.escaped("\u{A0}°±") == "\u{A0}°±")
        // Bidirectional overrides and the Unicode line separator; other 0xE2 characters kept.
        #expect(PrintableText.escaped("IGP-1\u{202E}evil\u{202C} \u{2066}x\u{2069}\u{2028}") == "IGP-1\\u{202E}evil\\u{202C} \\u{2066}x\\u{2069}\\u{2028}")
        #expect(PrintableText.escaped("– … € ™") == "– … € ™")
        // The invisible bidirectional marks (one alone is enough to look closer); an Arabic
        // letter and comma that share U+061C's first byte, and the zero-width joiner, kept.
        #expect(PrintableText.escaped("IGP-\u{200F}12") == "IGP-\\u{200F}12")
        #expect(PrintableText.escaped("\u{200E}a \u{061C}b") == "\\u{200E}a \\u{61C}b")
        #expect(PrintableText.escaped("\u{628}\u{60C} \u{200D}") == "\u{628}\u{60C} \u{200D}")
        #expect(PrintableText.escaped("a\nb\u{1B}", keepingLineBreaks: true) == "a\nb\\u{1B}")
    }
}
