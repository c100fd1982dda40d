@testable import Scheduler
import Testing

/// A date that looks right but does not read: the warning names the character that does not
/// show (a no-break space pasted from a document shows as a space in the quoted value).
struct InvisibleHintTests {
    @Test func aCharacterThatDoesNotShowIsNamed() {
        #expect(RulesEngine.invisibleHint("2026-11-24\u{A0}09:00:00")
                == " (character 11 is U+00A0 NO-BREAK SPACE, which shows as a space or not at all)")
        #expect(RulesEngine.invisibleHint("2026-11-24 09:00:00\u{200B}").contains("character 20 is U+200B ZERO WIDTH SPACE"))
        #expect(RulesEngine.invisibleHint("\u{FEFF}2026-11-24").contains("U+FEFF ZERO WIDTH NO-BREAK SPACE"))
        // Nothing hidden: nothing said (a letter shows; ASCII spaces show as what they are).
        #expect(RulesEngine.invisibleHint("24/11/2026").isEmpty)
        #expect(RulesEngine.invisibleHint("2026-11-24 09:00:00é").isEmpty)
        #expect(RulesEngine.invisibleHint("2026-11-24  09:00:00").isEmpty)
    }
}
