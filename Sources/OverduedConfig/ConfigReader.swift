/// Walks a `JSONValue` tree and collects problems instead of throwing, so that one pass
/// reports everything wrong with a file. Each accessor returns nil when the value is absent
/// or wrong, after recording why.
struct ConfigReader {
    private(set) var problems: [ConfigProblem] = []
    /// What is valid but unsafe or unwise (a secret file every user can read, a weak key).
    private(set) var warnings: [ConfigProblem] = []

    mutating func report(_ path: String, _ message: String) {
        problems.append(ConfigProblem(path: path, message: message))
    }

    mutating func warn(_ path: String, _ message: String) {
        warnings.append(ConfigProblem(path: path, message: message))
    }

    /// Where the config holds a secret in its own text (an inline URL's token or password,
    /// an inline credential header), for the warning about a config every user can read.
    private(set) var inlineSecrets: [String] = []

    mutating func noteInlineSecret(_ path: String) {
        inlineSecrets.append(path)
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The members of an object, after reporting any key not in `allowed`.
    mutating func object(_ value: JSONValue?, at path: String, allowed: [String]) -> [String: JSONValue]? {
        guard let value else { return nil }
        guard case .object(let members) = value else {
            report(path, "expected an object, found \(value.kind)")
            return nil
        }
        for key in members.keys.sorted() where !allowed.contains(key) {
            var message = "unknown key \"\(key)\""
            if let guess = Suggestion.closest(to: key, among: allowed) {
                message += "; did you mean \"\(guess)\"?"
            } else {
                message += "; allowed here: \(allowed.joined(separator: ", "))"
            }
            report(Self.join(path, key), message)
        }
        return members
    }

    mutating func string(_ members: [String: JSONValue]?, _ key: String, at path: String,
                         required: Bool = false, allowEmpty: Bool = false) -> String? {
        let fullPath = Self.join(path, key)
        guard let value = members?[key], value != .null else {
            if required, members != nil { report(fullPath, "is required") }
            return nil
        }
        guard case .string(let text) = value else {
            report(fullPath, "expected a string, found \(value.kind)")
            return nil
        }
        if !allowEmpty, text.trimmingCharacters(in: .whitespaces).isEmpty {
            report(fullPath, "must not be empty")
            return nil
        }
        return text
    }

    mutating func bool(_ members: [String: JSONValue]?, _ key: String, at path: String) -> Bool? {
        guard let value = members?[key], value != .null else { return nil }
        guard case .bool(let flag) = value else {
            report(Self.join(path, key), "expected true or false, found \(value.kind)")
            return nil
        }
        return flag
    }

    mutating func integer(_ members: [String: JSONValue]?, _ key: String, at path: String,
                          range: ClosedRange<Int>) -> Int? {
        let fullPath = Self.join(path, key)
        guard let value = members?[key], value != .null else { return nil }
        guard case .number(let number) = value else {
            report(fullPath, "expected a whole number, found \(value.kind)")
            return nil
        }
        guard number.rounded() == number else {
            report(fullPath, "expected a whole number, found \(number)")
            return nil
        }
        guard number.magnitude < 1e15 else {
            report(fullPath, "must be between \(range.lowerBound) and \(range.upperBound), found \(number)")
            return nil
        }
        guard range.contains(Int(number)) else {
            report(fullPath, "must be between \(range.lowerBound) and \(range.upperBound), found \(Int(number))")
            return nil
        }
        return Int(number)
    }

    mutating func duration(_ members: [String: JSONValue]?, _ key: String, at path: String,
                           minimum: Duration = .zero) -> Duration? {
        let fullPath = Self.join(path, key)
        guard let value = members?[key], value != .null else { return nil }
        guard case .string(let text) = value else {
            report(fullPath, "expected a duration string such as \"30s\" or \"5m\", found \(value.kind)")
            return nil
        }
        do {
            let duration = try DurationText.parse(text)
            guard duration >= minimum else {
                report(fullPath, "must be at least \"\(DurationText.format(minimum))\", found \"\(text)\"")
                return nil
            }
            return duration
        } catch {
            report(fullPath, error.message)
            return nil
        }
    }

    /// A non-empty list of non-blank strings, without duplicates. `required`: the key cannot
    /// be left out, so an empty list's advice is to list a value, not to remove the key.
    mutating func stringList(_ members: [String: JSONValue]?, _ key: String, at path: String, required: Bool = false) -> [String]? {
        let fullPath = Self.join(path, key)
        guard let value = members?[key], value != .null else { return nil }
        guard case .array(let items) = value else {
            report(fullPath, "expected a list of strings, found \(value.kind)")
            return nil
        }
        guard !items.isEmpty else {
            report(fullPath, required ? "is an empty list: list at least one value"
                                      : "is an empty list, which would match nothing; remove the key or list at least one value")
            return nil
        }
        var result: [String] = []
        var listed: Set<String> = []   // a lookup per item: `result.contains` made 60,000 items take minutes
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item, !text.isEmpty else {
                report("\(fullPath)[\(index)]", "expected a non-empty string, found \(item == .string("") ? "an empty string" : item.kind)")
                continue
            }
            // Blank names nothing: a status or priority of spaces matches no ticket, silently.
            guard !text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace || $0.properties.generalCategory == .format }) else {
                report("\(fullPath)[\(index)]", "expected a non-blank string, found only white space or invisible characters")
                continue
            }
            guard listed.insert(text).inserted else {
                report("\(fullPath)[\(index)]", "\"\(text)\" is listed twice")
                continue
            }
            result.append(text)
        }
        return result.count == items.count ? result : nil
    }

    /// A value that must be one of a fixed set of words.
    mutating func choice<Choice: RawRepresentable & CaseIterable>(
        _ members: [String: JSONValue]?, _ key: String, at path: String, as type: Choice.Type
    ) -> Choice? where Choice.RawValue == String {
        guard let text = string(members, key, at: path) else { return nil }
        if let choice = Choice(rawValue: text) { return choice }
        let allowed = Choice.allCases.map(\.rawValue)
        var message = "\"\(text)\" is not one of \(allowed.joined(separator: ", "))"
        if let guess = Suggestion.closest(to: text, among: allowed) { message += "; did you mean \"\(guess)\"?" }
        report(Self.join(path, key), message)
        return nil
    }
}

import Foundation
