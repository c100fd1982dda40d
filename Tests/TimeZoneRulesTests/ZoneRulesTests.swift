import Foundation
import Testing
@testable import TimeZoneRules

/// The footer rules (POSIX `TZ` strings), at instants worked out by hand.
struct PosixZoneRuleTests {
    static func at(_ text: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: text)?.timeIntervalSince1970 ?? .nan)
    }

    @Test func northernDaylightTimeBeginsAndEndsAtItsLocalTimes() throws {
        let toronto = try PosixZoneRule("EST5EDT,M3.2.0,M11.1.0")
        // 2026: second Sunday of March is the 8th, 02:00 EST = 07:00Z; first Sunday of
        // November is the 1st, 02:00 EDT = 06:00Z.
        #expect(toronto.offset(at: Self.at("2026-03-08T06:59:59Z")) == -18_000)
        #expect(toronto.offset(at: Self.at("2026-03-08T07:00:00Z")) == -14_400)
        #expect(toronto.offset(at: Self.at("2026-11-01T05:59:59Z")) == -14_400)
        #expect(toronto.offset(at: Self.at("2026-11-01T06:00:00Z")) == -18_000)
        #expect(toronto.transitions(after: Self.at("2026-01-01T00:00:00Z"), through: Self.at("2027-01-01T00:00:00Z"))
                == [Self.at("2026-03-08T07:00:00Z"), Self.at("2026-11-01T06:00:00Z")])
    }

    @Test func southernHalfHourAndNegativeDaylightTime() throws {
        // Lord Howe: +10:30, +11 from the first Sunday of October 02:00 to the first Sunday of April 02:00.
        let lordHowe = try PosixZoneRule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
        #expect(lordHowe.offset(at: Self.at("2027-01-15T00:00:00Z")) == 39_600)
        #expect(lordHowe.offset(at: Self.at("2027-06-15T00:00:00Z")) == 37_800)
        // 2027-04-04 02:00 +11 = 2027-04-03T15:00Z.
        #expect(lordHowe.offset(at: Self.at("2027-04-03T14:59:59Z")) == 39_600)
        #expect(lordHowe.offset(at: Self.at("2027-04-03T15:00:00Z")) == 37_800)
        // Dublin: standard time is summer's (+1), "daylight" is winter's GMT, from the last
        // Sunday of October 02:00 (+1) to the last Sunday of March 01:00 (GMT).
        let dublin = try PosixZoneRule("IST-1GMT0,M10.5.0,M3.5.0/1")
        #expect(dublin.offset(at: Self.at("2026-07-01T00:00:00Z")) == 3_600)
        #expect(dublin.offset(at: Self.at("2026-12-01T00:00:00Z")) == 0)
        #expect(dublin.offset(at: Self.at("2026-10-25T00:59:59Z")) == 3_600)
        #expect(dublin.offset(at: Self.at("2026-10-25T01:00:00Z")) == 0)
    }

    @Test func negativeAndLateTimesAndJulianDays() throws {
        // Nuuk: -2, -1 from the last Sunday of March at -1:00 (the Saturday's 23:00) to the
        // last Sunday of October at 00:00.
        let nuuk = try PosixZoneRule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
        // 2027-03-28 is the last Sunday; -1:00 on it is the Saturday's 23:00 local (-2),
        // 2027-03-28T01:00Z.
        #expect(nuuk.offset(at: Self.at("2027-03-28T00:59:59Z")) == -7_200)
        #expect(nuuk.offset(at: Self.at("2027-03-28T01:00:00Z")) == -3_600)
        // Daylight time all year, as tzdata writes it: no change at the year's end.
        let always = try PosixZoneRule("EST5EDT4,0/0,J365/25")
        #expect(always.offset(at: Self.at("2026-12-31T23:59:59Z")) == -14_400)
        #expect(always.offset(at: Self.at("2027-01-01T05:00:00Z")) == -14_400)
        #expect(always.offset(at: Self.at("2027-07-01T00:00:00Z")) == -14_400)
        // J60 is March 1 also in a leap year; 59 (zero-based) is February 29 in one.
        let julian = try PosixZoneRule("AAA0BBB,J60/0,J300/0")
        #expect(julian.offset(at: Self.at("2028-02-29T23:59:59Z")) == 0)
        #expect(julian.offset(at: Self.at("2028-03-01T00:00:00Z")) == 3_600)
        let zeroBased = try PosixZoneRule("AAA0BBB,59/0,300/0")
        #expect(zeroBased.offset(at: Self.at("2028-02-28T23:59:59Z")) == 0)
        #expect(zeroBased.offset(at: Self.at("2028-02-29T00:00:00Z")) == 3_600)
        // A fixed offset: no daylight time.
        #expect(try PosixZoneRule("<+01>-1").offset(at: Self.at("2026-07-01T00:00:00Z")) == 3_600)
    }

    @Test(arguments: ["", "E", "EST", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0", "EST5EDT,M3.2.0,M11.1.0x", "<+1>-1", "EST25"])
    func aBrokenFooterIsRefused(footer: String) {
        #expect(throws: ZoneRulesError.self) { _ = try PosixZoneRule(footer) }
    }

    @Test func yearsAndDaysAgreeWithTheCalendar() {
        #expect(PosixZoneRule.days(year: 1970, month: 1, day: 1) == 0)
        #expect(PosixZoneRule.days(year: 2000, month: 3, day: 1) == 11_017)
        #expect(PosixZoneRule.days(year: 1969, month: 12, day: 31) == -1)
        #expect(PosixZoneRule.year(of: Self.at("2026-12-31T23:59:59Z")) == 2026)
        #expect(PosixZoneRule.year(of: Self.at("2027-01-01T00:00:00Z")) == 2027)
        #expect(PosixZoneRule.year(of: -1) == 1969)
        #expect(PosixZoneRule.year(of: Self.at("1900-03-01T00:00:00Z")) == 1900)
    }
}

/// TZif files: made here byte by byte, and the system's own, checked against `zdump`.
struct ZoneRulesTests {
    /// A version-2 file with the given transitions (instant, offset), the offset before them,
    /// and a footer.
    static func tzif(initial: Int32, transitions: [(Int64, Int32)], footer: String) -> [UInt8] {
        func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        let types = [initial] + transitions.map(\.1)
        func header(_ timecnt: Int) -> [UInt8] {
            Array("TZif2".utf8) + [UInt8](repeating: 0, count: 15)
                + be(Int32(0)) + be(Int32(0)) + be(Int32(0)) + be(Int32(timecnt)) + be(Int32(types.count)) + be(Int32(4))
        }
        func block(_ times: [UInt8]) -> [UInt8] {
            times + transitions.indices.map { UInt8($0 + 1) } + types.flatMap { be($0) + [0, 0] } + Array("ABC\0".utf8)
        }
        let v1 = header(transitions.count) + block(transitions.flatMap { be(Int32(truncatingIfNeeded: $0.0)) })
        let v2 = header(transitions.count) + block(transitions.flatMap { be($0.0) })
        return v1 + v2 + Array("\n\(footer)\n".utf8)
    }

    @Test func aFilesTransitionsThenItsFooterGiveTheOffsets() throws {
        // -5 until 2000, +1 until 2010, then the footer's EST/EDT.
        let bytes = Self.tzif(initial: -18_000, transitions: [(946_684_800, 3_600), (1_262_304_000, -18_000)],
                              footer: "EST5EDT,M3.2.0,M11.1.0")
        let zone = try ZoneRules(identifier: "Test/Zone", tzif: bytes, path: "/x")
        func offset(_ seconds: Double) -> Int { zone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds)) }
        #expect(offset(946_684_799) == -18_000)
        #expect(offset(946_684_800) == 3_600)
        #expect(offset(1_262_303_999.5) == 3_600)
        #expect(offset(1_262_304_000) == -18_000)
        // 2026-07-01: the footer's daylight time.
        #expect(offset(1_782_864_000) == -14_400)
        #expect(zone.steadyOffset(from: Date(timeIntervalSince1970: 946_000_000), to: Date(timeIntervalSince1970: 946_684_799)) == -18_000)
        #expect(zone.steadyOffset(from: Date(timeIntervalSince1970: 946_000_000), to: Date(timeIntervalSince1970: 946_684_800)) == nil)
        // Across 2026-03-08T07:00Z, where only the footer knows of a change.
        #expect(zone.steadyOffset(from: Date(timeIntervalSince1970: 1_772_700_000), to: Date(timeIntervalSince1970: 1_773_100_000)) == nil)
        #expect(zone.steadyOffset(from: Date(timeIntervalSince1970: 1_772_700_000), to: Date(timeIntervalSince1970: 1_772_900_000)) == -18_000)
    }

    /// A file with no transitions at all is its footer's rule throughout (`zic` writes such
    /// files for zones given by a rule alone).
    @Test func aFileWithoutTransitionsFollowsItsFooter() throws {
        let zone = try ZoneRules(identifier: "Test/Rule", tzif: Self.tzif(initial: -18_000, transitions: [], footer: "EST5EDT,M3.2.0,M11.1.0"), path: "/x")
        #expect(zone.secondsFromGMT(for: Date(timeIntervalSince1970: 1_782_864_000)) == -14_400)   // 2026-07-01: daylight time
        #expect(zone.secondsFromGMT(for: Date(timeIntervalSince1970: 1_767_225_600)) == -18_000)   // 2026-01-01
        #expect(zone.steadyOffset(from: Date(timeIntervalSince1970: 1_772_700_000), to: Date(timeIntervalSince1970: 1_773_100_000)) == nil)
    }

    @Test func aDamagedFileIsRefusedWithItsReason() throws {
        let good = Self.tzif(initial: 0, transitions: [(0, 3_600)], footer: "<+01>-1")
        #expect(throws: Never.self) { _ = try ZoneRules(identifier: "T/Z", tzif: good, path: "/x") }
        for (bytes, phrase) in [(Array(good.prefix(60)), "ends early"), (Array("TZjf".utf8) + good.dropFirst(4), "no TZif header"),
                                (Array(good.dropLast(1)), "ends early"), (good.dropLast(3) + Array("x\n".utf8), "footer")] {
            #expect {
                _ = try ZoneRules(identifier: "T/Z", tzif: bytes, path: "/x")
            } throws: { error in
                (error as? ZoneRulesError)?.message.contains(phrase) == true
            }
        }
    }

    @Test func namesStayInsideTheZoneFolder() {
        #expect(ZoneRules.isPlainName("America/Argentina/Buenos_Aires"))
        #expect(ZoneRules.isPlainName("Etc/GMT+5"))
        for name in ["../etc/passwd", "America/../../etc/passwd", "/etc/passwd", "America//Toronto", ".hidden", "America/Toronto\n", ""] {
            #expect(!ZoneRules.isPlainName(name), "\(name)")
        }
        #expect(ZoneRules.load("../../etc/passwd") == nil)
    }

    /// Without a file for the zone the built-in data answers, and says why.
    @Test func aZoneTheSystemLacksComesFromTheBuiltInDataAndSaysSo() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("zoneinfo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let zone = try #require(ZoneRules.load("Europe/Paris", directory: empty))
        guard case .builtIn(let reason) = zone.source else {
            Issue.record("expected the built-in data, got \(zone.source)")
            return
        }
        #expect(reason.contains(empty + "/Europe/Paris") && reason.contains("tzdata"))
        #expect(zone.secondsFromGMT(for: Date(timeIntervalSince1970: 1_782_864_000)) == 7_200)
        #expect(ZoneRules.load("Nowhere/Atlantis", directory: empty) == nil)
        #expect(ZoneRules.load("UTC", directory: empty)?.source == .utc)
    }

    /// Every transition `zdump` (the C library's reading of the same files) lists from 1900 to
    /// 2060, both sides of it, in zones with every kind of rule: the footer's years included.
    @Test(arguments: ["America/Toronto", "America/Vancouver", "Europe/Paris", "Europe/Dublin", "Australia/Lord_Howe",
                      "Pacific/Apia", "Africa/Casablanca", "America/Havana", "America/Nuuk", "Asia/Tehran",
                      "America/Santiago", "Antarctica/Troll", "Asia/Gaza", "Pacific/Chatham"])
    func theSystemsFilesReadAsTheCLibraryReadsThem(zoneName: String) throws {
        let zone = try #require(ZoneRules.load(zoneName), "no zone \(zoneName)")
        #expect(zone.source == .system(path: ZoneRules.systemDirectory + "/" + zoneName), "install the tzdata package")
        let zdump = Process()
        zdump.executableURL = URL(fileURLWithPath: "/usr/bin/zdump")
        zdump.arguments = ["-v", "-c", "1900,2060", zoneName]
        let pipe = Pipe()
        zdump.standardOutput = pipe
        try zdump.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        zdump.waitUntilExit()
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var checked = 0
        for line in output.split(separator: "\n") where line.contains("gmtoff=") {
            // America/Toronto  Sun Mar  8 06:59:59 2026 UT = Sun Mar  8 01:59:59 2026 EST isdst=0 gmtoff=-18000
            let words = line.split(separator: " ")
            guard words.count > 6, let month = months.firstIndex(of: String(words[2])), let day = Int(words[3]),
                  let year = Int(words[5]), let offset = words.last.flatMap({ Int($0.dropFirst("gmtoff=".count)) }) else {
                Issue.record("cannot read zdump's line \(line)")
                continue
            }
            let clock = words[4].split(separator: ":").compactMap { Int($0) }
            guard clock.count == 3 else { continue }
            let seconds = PosixZoneRule.days(year: year, month: month + 1, day: day) * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]
            let got = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds)))
            #expect(got == offset, "\(zoneName) at \(words[1...5].joined(separator: " ")) UT: \(got), zdump \(offset)")
            checked += 1
        }
        #expect(checked > 2, "zdump listed \(checked) transitions for \(zoneName): \(output.prefix(300))")
    }

    /// A file rewritten under the rules read (a tzdata upgrade) is read again; an unchanged
    /// one costs a `stat`, and one that cannot be read leaves the rules as they were.
    @Test func aRewrittenFileIsReadAgain() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoneinfo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/Test", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/Test/Zone"
        func write(_ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path + ".new"))
            #expect(rename(path + ".new", path) == 0)
        }
        try write(Self.tzif(initial: 3_600, transitions: [], footer: "<+01>-1"))
        let first = try #require(ZoneRules.load("Test/Zone", directory: folder))
        let instant = Date(timeIntervalSince1970: 1_782_864_000)
        #expect(first.secondsFromGMT(for: instant) == 3_600)
        #expect(first.reloadedIfChanged() == nil, "unchanged")
        try write(Self.tzif(initial: 7_200, transitions: [], footer: "<+02>-2"))
        let second = try #require(first.reloadedIfChanged())
        #expect(second.secondsFromGMT(for: instant) == 7_200 && second != first)
        #expect(second.reloadedIfChanged() == nil)
        try write(Array("not a zone file".utf8))
        #expect(second.reloadedIfChanged() == nil, "a damaged file keeps the rules read before")
    }

    /// The system's `tzdata` release, shown by check-config.
    @Test func theSystemsReleaseIsRead() {
        let version = ZoneRules.systemVersion()
        #expect(version.map { $0.count >= 5 && $0.first?.isNumber == true } == true, "\(version ?? "none")")
    }
}

/// The month lengths every date reader checks against (`--now`, the tickets' dates, the zone
/// rules' transitions) agree with the day counts of the calendar arithmetic itself.
struct GregorianDaysTests {
    @Test func monthLengthsAgreeWithTheDayCounts() {
        for year in 1583...2500 {
            for month in 1...12 {
                let next = month == 12 ? GregorianDays.days(year: year + 1, month: 1, day: 1) : GregorianDays.days(year: year, month: month + 1, day: 1)
                #expect(GregorianDays.daysIn(month: month, year: year) == next - GregorianDays.days(year: year, month: month, day: 1),
                        "\(year)-\(month)")
            }
        }
        #expect([1900, 2023, 2100].allSatisfy { !GregorianDays.isLeap($0) })
        #expect([1600, 2000, 2024, 2400].allSatisfy(GregorianDays.isLeap))
    }
}
