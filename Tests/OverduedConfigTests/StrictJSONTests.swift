import Foundation
import OverduedConfig
import Testing

/// RFC 8259's grammar, which Foundation's parser on Linux does not hold to (it takes a comma
/// before `]` and `}`).
struct StrictJSONTests {
    static let valid: [String] = [
        "{}", "[]", " [ ] ", "\n{\"a\": 1}\n", "0", "-0", "1.5e+10", "-12.25E-3", "1E5", "true", "false", "null",
        #""text""#, #""\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00""#, #"{"a": [1, {"b": null}, "c", [], {}], "d": {"e": false}}"#,
        "\"Fuite d'huile — ✅ à changer\"", #"{"":""}"#, "[1,2,3]", "{\"a\"\t:\r\n1}",
        "[1e308, -1.7e308, 4e-324, 0e-400, 0.0, 123456789012345678901234567890]", #"["\uD83D\uDE00 \ud83d\ude00"]"#,
    ]

    @Test(arguments: valid)
    func acceptsJSON(_ text: String) throws {
        #expect(StrictJSON.syntaxError(in: Array(text.utf8)) == nil)
        // The same texts parse with Foundation (a check of the test data, not of the checker).
        _ = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// Each refused text, with where (line, column) and a phrase of why.
    static let invalid: [(String, Int, Int, String)] = [
        ("[1, 2,]", 1, 7, "a comma before ']': JSON allows no trailing comma"),
        ("{\"a\": 1,\n}", 2, 1, "a comma before '}': JSON allows no trailing comma"),
        ("{\"a\": [\"é\", \"ü\",]}", 1, 17, "a comma before ']'"),
        ("", 1, 1, "expected a value, found the end of the text"),
        ("   ", 1, 4, "expected a value"),
        ("{\"a\" 1}", 1, 6, "expected ':' after the key, found '1'"),
        ("{a: 1}", 1, 2, "expected a key in double quotes, found 'a'"),
        ("{'a': 1}", 1, 2, "expected a key in double quotes"),
        ("[1 2]", 1, 4, "expected ',' or ']' after an element, found '2'"),
        ("{\"a\": 1 \"b\": 2}", 1, 9, "expected ',' or '}' after a member"),
        ("[01]", 1, 3, "a number cannot have a leading zero"),
        ("[.5]", 1, 2, "expected a value"),
        ("[+1]", 1, 2, "expected a value"),
        ("[1.]", 1, 4, "expected a digit after the decimal point"),
        ("[1e]", 1, 4, "expected a digit in the exponent"),
        ("[-]", 1, 3, "expected a digit"),
        ("[True]", 1, 2, "expected a value"),
        ("[nul]", 1, 2, "expected null"),
        ("\"a\nb\"", 1, 3, "a control character inside a string"),
        ("\"a\u{1F}b\"", 1, 3, "a control character inside a string"),
        ("\"a\u{00}b\"", 1, 3, "a control character inside a string"),
        (#""\x""#, 1, 2, "an unknown escape in a string"),
        (#""\u12G4""#, 1, 6, "\\u needs four hexadecimal digits"),
        ("\"open", 1, 6, "a string is not closed"),
        ("{} {}", 1, 4, "'{' after the end of the JSON value"),
        ("[1]]", 1, 4, "']' after the end of the JSON value"),
        ("[[1]", 1, 5, "expected ',' or ']' after an element, found the end of the text"),
        ("{\"a\": NaN}", 1, 7, "expected a value"),
        ("\u{FEFF}{}", 1, 1, "byte order mark"),
        // Beyond the grammar, what no reader can hold: half a character, a number past a double.
        (#"["\ud83d"]"#, 1, 3, "a lone UTF-16 surrogate"),
        (#"["\ud83dx"]"#, 1, 3, "a lone UTF-16 surrogate"),
        (#"["a\ude00"]"#, 1, 4, "a lone UTF-16 surrogate"),
        (#"["\ud83d\u0041"]"#, 1, 3, "a lone UTF-16 surrogate"),
        ("[1, 1e400]", 1, 5, "a number beyond what a double holds"),
        ("[-2e308]", 1, 2, "a number beyond what a double holds"),
        ("[0.1e-400]", 1, 2, "a number too small for a double"),
    ]

    @Test(arguments: invalid)
    func refusesWhatIsNotJSONSayingWhere(_ case_: (String, Int, Int, String)) {
        let (text, line, column, phrase) = case_
        let error = StrictJSON.syntaxError(in: Array(text.utf8))
        #expect(error?.line == line && error?.column == column, "\(text): \(error?.description ?? "accepted")")
        #expect(error?.message.contains(phrase) == true, "\(text): \(error?.description ?? "accepted")")
    }

    @Test func aByteOrderMarkIsSkippedWhereAllowed() {
        #expect(StrictJSON.syntaxError(in: Array("\u{FEFF}{\"a\": 1}".utf8), allowingByteOrderMark: true) == nil)
        #expect(StrictJSON.syntaxError(in: Array("\u{FEFF}{\"a\": 1,}".utf8), allowingByteOrderMark: true)?.column == 10)
    }

    /// No recursion: a nesting deeper than any thread stack is read without a crash.
    @Test func deepNestingDoesNotExhaustTheStack() {
        let depth = 200_000
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(StrictJSON.syntaxError(in: Array(nested.utf8)) == nil)
        let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(StrictJSON.syntaxError(in: Array(objects.utf8)) == nil)
        #expect(StrictJSON.syntaxError(in: Array((nested + ",").utf8))?.message.contains("after the end") == true)
    }
}
