import Foundation

/// Keys written twice in one JSON object. Foundation's decoders keep one of the two values
/// silently, so a config with `"url"` twice would run on whichever they keep; the loader
/// reports each duplicate instead, at its JSON path with its line.
///
/// Runs on text that already parsed as JSON (the decoder checked the syntax), so it only
/// tracks strings, objects and arrays.
enum DuplicateKeys {
    struct Duplicate: Equatable {
        /// The JSON path of the key, as problems are reported (`destinations.hook.url`).
        var path: String
        /// 1-based line of the second occurrence.
        var line: Int
    }

    private enum Container {
        case object(path: String, keys: Set<String>, pendingKey: String?)
        case array(path: String, index: Int)

        var path: String {
            switch self {
            case .object(let path, _, _), .array(let path, _): path
            }
        }
    }

    static func find(in data: Data) -> [Duplicate] {
        let bytes = [UInt8](data)
        var found: [Duplicate] = []
        var stack: [Container] = []
        var line = 1
        var index = 0
        // Whether the next string in the current object is a key (after `{` or `,`).
        var expectingKey = false

        /// The path of the value that starts now, in the container on top of the stack.
        func valuePath() -> String {
            switch stack.last {
            case .object(let path, _, let key?)?: return path.isEmpty ? key : "\(path).\(key)"
            case .array(let path, let index)?: return "\(path)[\(index)]"
            default: return ""
            }
        }

        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
            case UInt8(ascii: "\""):
                let (text, end) = string(bytes, from: index)
                index = end
                if expectingKey, case .object(let path, var keys, _) = stack.last {
                    if !keys.insert(text).inserted {
                        found.append(Duplicate(path: path.isEmpty ? text : "\(path).\(text)", line: line))
                    }
                    stack[stack.count - 1] = .object(path: path, keys: keys, pendingKey: text)
                    expectingKey = false
                }
            case UInt8(ascii: "{"):
                stack.append(.object(path: valuePath(), keys: [], pendingKey: nil))
                expectingKey = true
            case UInt8(ascii: "["):
                stack.append(.array(path: valuePath(), index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                expectingKey = false
            case UInt8(ascii: ","):
                switch stack.last {
                case .object?: expectingKey = true
                case .array(let path, let position)?: stack[stack.count - 1] = .array(path: path, index: position + 1)
                case nil: break
                }
            default:
                break
            }
            index += 1
        }
        return found
    }

    /// The string starting at the quote `start` (escapes decoded only as far as keys need:
    /// `\"` and `\\` kept apart from the closing quote), and the index of its closing quote.
    private static func string(_ bytes: [UInt8], from start: Int) -> (String, Int) {
        var index = start + 1
        var content: [UInt8] = []
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
            if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count {
                content.append(bytes[index])
                index += 1
            }
            content.append(bytes[index])
            index += 1
        }
        // Keys are compared as JSON reads them: `"\u0061lign"` is `align` (jq and Python keep
        // the last of the two, Foundation the first).
        let written = String(decoding: content, as: UTF8.self)
        guard content.contains(UInt8(ascii: "\\")),
              let decoded = try? JSONDecoder().decode(String.self, from: Data(("\"" + written + "\"").utf8)) else { return (written, index) }
        return (decoded, index)
    }
}
