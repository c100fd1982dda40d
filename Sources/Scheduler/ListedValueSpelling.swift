import Foundation
public import OverduedConfig
public import Store
import TextEscaping

/// Values a rule lists (`status_in`, `status_not_in`, `priority_in`) that the tickets
/// database spells differently.
///
/// SQLite compares them byte for byte: `"received"` does not select a ticket whose status is
/// `"Received "` or `"RECEIVED"`, nor `"reçu"` written with a combining cedilla. Such tickets
/// are never notified (or, under `status_not_in`, never excluded), and nothing fails. These
/// warnings name them, from the distinct values and their counts in the database, so an
/// operator can decide which spelling is meant. Pure: the counts are read by the caller.
public enum ListedValueSpelling {
    /// One warning per listed value that some tickets spell differently (case, surrounding
    /// spaces, Unicode composition), and per listed value that no ticket holds while one
    /// close spelling does ("did you mean"). Paths as in the config's problems.
    public static func warnings(rules: [RuleSpec], counts: [TicketColumn: [TicketColumn.ValueCount]]) -> [String] {
        var warnings: [String] = []
        for (index, rule) in rules.enumerated() {
            let lists: [(String, [String]?, TicketColumn)] = [
                ("status_in", rule.match.statusIn, .status),
                ("status_not_in", rule.match.statusNotIn, .status),
                ("priority_in", rule.match.priorityIn, .priority),
            ]
            for (key, values, column) in lists {
                guard let values else { continue }
                for (position, listed) in values.enumerated() {
                    let path = "rules[\(index)].match.\(key)[\(position)]"
                    if let warning = warning(listed: listed, column: column, counts: counts[column] ?? []) {
                        warnings.append("\(path): \(warning)")
                    }
                }
            }
        }
        return warnings
    }

    static func warning(listed: String, column: TicketColumn, counts: [TicketColumn.ValueCount]) -> String? {
        let exact = counts.contains { sameBytes($0.value, listed) }
        let variants = counts.filter { !sameBytes($0.value, listed) && folded($0.value) == folded(listed) }
        if !variants.isEmpty {
            let total = variants.reduce(0) { $0 + $1.tickets }
            // Spellings that differ only in how an accent is encoded look the same printed:
            // then both show their non-ASCII characters as code points.
            let show: (String) -> String = { value in value == listed ? quoted(value, escapingNonASCII: true) : quoted(value) }
            let spellings = variants.count == 1
                ? show(variants[0].value)
                : variants.map { "\(show($0.value)) (\($0.tickets))" }.joined(separator: ", ")
            let shownListed = variants.contains { $0.value == listed } ? quoted(listed, escapingNonASCII: true) : quoted(listed)
            return "\(shownListed) does not match the \(total) \(total == 1 ? "ticket" : "tickets") whose \(column.rawValue) is "
                + "\(spellings): \(column.plural) are compared exactly, and these differ in case, surrounding spaces "
                + "or how an accent is encoded"
        }
        guard !exact else { return nil }
        let others = counts.map(\.value).filter { !$0.isEmpty }
        guard let guess = Suggestion.closest(to: listed, among: others) else { return nil }
        return "no ticket has the \(column.rawValue) \(quoted(listed)); did you mean \(quoted(guess))?"
    }

    /// Bytes, not Swift's canonical equivalence: SQLite's comparison.
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    /// Case, surrounding white space and Unicode composition removed (Swift compares
    /// `String`s by canonical equivalence).
    static func folded(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    static func quoted(_ value: String, escapingNonASCII: Bool = false) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            // Every control a terminal may act on (C1, line separators, bidirectional
            // overrides too), not only C0 and DEL: these are ticket values, any text.
            case _ where PrintableText.isControl(scalar) || (escapingNonASCII && !scalar.isASCII):
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
