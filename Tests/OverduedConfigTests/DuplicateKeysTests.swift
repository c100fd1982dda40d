import Foundation
@testable import OverduedConfig
import Testing

struct DuplicateKeysTests {
    func find(_ json: String) -> [DuplicateKeys.Duplicate] {
        DuplicateKeys.find(in: Data(json.utf8))
    }

    @Test func equalKeysInOneObjectAreFoundWithTheirPathAndLine() {
        let json = """
            {
              "rules": [
                {"name": "a", "match": {}},
                {"name": "b", "match": {"grace": "1h",
                                        "grace": "2h"}}
              ],
              "rules": []
            }
            """
        #expect(find(json) == [.init(path: "rules[1].match.grace", line: 5), .init(path: "rules", line: 7)])
    }

    @Test func theSameKeyInTwoObjectsStringsThatLookLikeSyntaxAndEscapesAreNotDuplicates() {
        #expect(find(#"[{"a": 1}, {"a": 2}]"#).isEmpty)
        #expect(find(#"{"a": {"x": 1}, "b": {"x": 2}}"#).isEmpty)
        #expect(find(#"{"a": "}, \"a\": {", "b": "[,]"}"#).isEmpty)
        #expect(find(#"{"a\"b": 1, "a\\b": 2, "a": 3}"#).isEmpty)
        #expect(find(#"{"a\"b": 1, "a\"b": 2}"#) == [.init(path: #"a"b"#, line: 1)], "named as JSON reads it")
        // Compared as JSON reads them: an escape spells the same key.
        #expect(find(#"{"align": true, "\u0061lign": false}"#) == [.init(path: "align", line: 1)])
    }
}
