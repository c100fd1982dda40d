internal import TextEscaping

/// One thing wrong with a config file, named by its JSON path (`rules[1].match.status_in`)
/// and explained in a sentence a user understands.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// One line, with what the file held quoted safely: a control character or line break in
    /// a key or value (a name with `\n`, an escape sequence) is shown escaped, never sent to a
    /// terminal or split into a second journal line.
    public var description: String { PrintableText.escaped(path.isEmpty ? message : "\(path): \(message)") }
}

/// Every problem found in one config file: validation never stops at the first.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var problems: [ConfigProblem]

    public init(file: String, problems: [ConfigProblem]) {
        self.file = file
        self.problems = problems
    }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return "\(file): \(count)\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// "did you mean" for unknown keys: the closest allowed key within a small edit distance.
public enum Suggestion {
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let length = word.count
        let limit = max(2, length / 3)
        // The distance is at least the difference in length: a candidate further apart than the
        // limit is not weighed (a 10,000-character zone name cost 8 s against ~600 zones).
        let scored = candidates.filter { abs($0.count - length) <= limit }
            .map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return best.1 <= limit ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
