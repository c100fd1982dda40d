public import Foundation
public import TimeZoneRules
import Store

/// What a stored `scheduled_date` means. The app wrote several formats over its life
/// (`seed-schema.md`): naive `YYYY-MM-DD HH:MM:SS` (read in `store.timezone`), date-only
/// `YYYY-MM-DD` (the end of that day, as the app's `23:59:59` values meant), ISO 8601 with
/// `T` and `Z` or an offset, and garbage.
public enum ScheduledDate: Sendable, Equatable {
    /// NULL, `''`, or the literal `'null'`: the ticket has no date and is never overdue.
    case absent
    case instant(Date)
    /// Present but unreadable: the row is skipped with a warning naming the ticket.
    case unparseable(String)

    /// Reads a stored value. Naive local times that fall in a daylight-saving gap (02:30 on
    /// the spring-forward day) move forward by the gap; those that occur twice (01:30 on the
    /// fall-back day) take the earlier instant, so a ticket is never late by an extra hour.
    public static func parse(_ raw: String?, in zone: ZoneRules) -> ScheduledDate {
        parse(raw) { fields in fields.instant(defaultZone: zone) }
    }

    /// The same reading, with the zone's offsets looked up once per day (`ZoneOffsets`): for
    /// the many rows of one tick.
    public static func parse(_ raw: String?, reading offsets: ZoneOffsets) -> ScheduledDate {
        parse(raw) { fields in fields.instant(offsets: offsets) }
    }

    /// Whether `text`, a stored date, names `instant`: the same deadline in another spelling
    /// (`2026-11-26 08:00:00` in Toronto and `2026-11-26T13:00:00.000Z`). A naive time in the
    /// hour the clocks repeat in autumn names two instants; either counts.
    public static func names(_ instant: Date, _ text: String, in zone: ZoneRules) -> Bool {
        guard case .instant(let at) = parse(text, in: zone) else { return false }
        if at == instant { return true }
        // A naive wall time (no `Z`, no offset) in the hour repeated: its other reading is
        // the same wall time, the instants differing by exactly the change of offset. A
        // text with its own offset names one instant only.
        let naive = !text.dropFirst(10).contains { $0 == "Z" || $0 == "z" || $0 == "+" || $0 == "-" }
        return naive && at.timeIntervalSince(instant) == Double(zone.secondsFromGMT(for: instant) - zone.secondsFromGMT(for: at))
    }

    private static func parse(_ raw: String?, instant: (Fields) -> Date?) -> ScheduledDate {
        guard let raw else { return .absent }
        let text = raw.trimmedASCIIWhitespace
        if text.isEmpty || text.utf8.count == 4 && text.lowercased() == "null" { return .absent }
        guard let fields = Fields(text) else { return .unparseable(raw) }
        return instant(fields).map(ScheduledDate.instant) ?? .unparseable(raw)
    }

    /// The parsed pieces of a date text, validated (month 1-12, day within the month, ...).
    struct Fields {
        var year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0
        var nanosecond = 0
        /// nil: naive; otherwise seconds east of UTC.
        var offset: Int?
        var dateOnly = false

        init?(_ text: String) {
            let bytes = Array(text.utf8)
            var index = 0
            func number(_ width: Int) -> Int? {
                guard index + width <= bytes.count else { return nil }
                var value = 0
                for byte in bytes[index..<index + width] {
                    guard byte >= 48, byte <= 57 else { return nil }
                    value = value * 10 + Int(byte - 48)
                }
                index += width
                return value
            }
            func expect(_ character: UInt8) -> Bool {
                guard index < bytes.count, bytes[index] == character else { return false }
                index += 1
                return true
            }
            guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else { return nil }
            (self.year, self.month, self.day) = (year, month, day)
            if index == bytes.count {
                dateOnly = true
            } else {
                guard index < bytes.count, bytes[index] == 32 || bytes[index] == 84 || bytes[index] == 116 else { return nil }
                index += 1
                guard let hour = number(2), expect(58), let minute = number(2) else { return nil }
                (self.hour, self.minute) = (hour, minute)
                if expect(58) {
                    guard let second = number(2) else { return nil }
                    self.second = second
                    if expect(46) || expect(44) {
                        var digits = 0
                        var fraction = 0
                        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                            if digits < 9 { fraction = fraction * 10 + Int(bytes[index] - 48); digits += 1 }
                            index += 1
                        }
                        guard digits > 0 else { return nil }
                        for _ in digits..<9 { fraction *= 10 }
                        nanosecond = fraction
                    }
                }
                if index < bytes.count, bytes[index] == 32 { index += 1 }
                if expect(90) || expect(122) {
                    offset = 0
                } else if index < bytes.count, bytes[index] == 43 || bytes[index] == 45 {
                    let sign = bytes[index] == 45 ? -1 : 1
                    index += 1
                    guard let hours = number(2) else { return nil }
                    _ = expect(58)
                    let minutes = number(2) ?? 0
                    guard minutes < 60, hours * 60 + minutes <= 18 * 60 else { return nil }
                    offset = sign * (hours * 3600 + minutes * 60)
                }
            }
            guard index == bytes.count else { return nil }
            guard (1...12).contains(month), day >= 1, day <= GregorianDays.daysIn(month: month, year: year),
                  hour < 24, minute < 60, second < 61 else { return nil }
        }

        func instant(defaultZone: ZoneRules) -> Date? {
            let wallAsUTC = wallAsUTC
            if let offset { return wallAsUTC.addingTimeInterval(-Double(offset)) }
            return Self.localInstant(wallAsUTC: wallAsUTC, zone: defaultZone)
        }

        func instant(offsets: ZoneOffsets) -> Date? {
            let wallAsUTC = wallAsUTC
            if let offset { return wallAsUTC.addingTimeInterval(-Double(offset)) }
            let days = CivilDate.days(year: year, month: month, day: day)
            if let steady = offsets.steadyOffset(aroundDay: days) { return wallAsUTC.addingTimeInterval(-Double(steady)) }
            return Self.localInstant(wallAsUTC: wallAsUTC, zone: offsets.zone)
        }

        /// The wall time read as if it were UTC.
        private var wallAsUTC: Date {
            let (h, m, s, ns) = dateOnly ? (23, 59, 59, 0) : (hour, minute, min(second, 59), nanosecond)
            let seconds = CivilDate.days(year: year, month: month, day: day) * 86_400 + h * 3600 + m * 60 + s
            return Date(timeIntervalSince1970: Double(seconds) + Double(ns) / 1e9)
        }

        /// The documented reading of gaps and overlaps: the earliest instant whose local wall
        /// time is the one asked for, or for a wall time that does not exist, the instant one
        /// gap later.
        static func localInstant(wallAsUTC: Date, zone: ZoneRules) -> Date? {
            // Candidate instants: wall time minus each offset in force around that moment.
            let around = [-86_400.0, 0, 86_400].map { zone.secondsFromGMT(for: wallAsUTC.addingTimeInterval($0)) }
            if around[0] == around[1], around[1] == around[2] {
                // No transition near (nearly every date): one candidate, checked as below.
                let instant = wallAsUTC.addingTimeInterval(-Double(around[0]))
                if zone.secondsFromGMT(for: instant) == around[0] { return instant }
            }
            let offsets = Set(around)
            let exact = offsets.map { wallAsUTC.addingTimeInterval(-Double($0)) }
                .filter { zone.secondsFromGMT(for: $0) == Int($0.timeIntervalSince(wallAsUTC) * -1) }
                .sorted()
            if let earliest = exact.first { return earliest }
            // In a gap: read with the offset in force before the transition.
            let before = zone.secondsFromGMT(for: wallAsUTC.addingTimeInterval(-86_400))
            return wallAsUTC.addingTimeInterval(-Double(before))
        }
    }
}

/// A zone's offset from UTC, remembered per day for the rows of one tick. Reading a naive
/// time asks the zone up to four times (`localInstant`); most days are nowhere near an offset
/// change, and for those one question per day answers every time of that day: the offset in
/// force over the days around it.
public final class ZoneOffsets {
    public let zone: ZoneRules
    /// Per day (days since 1970-01-01): the offset in force from two days before to three
    /// days after it, or nil when it changes within that span.
    private var steady: [Int: Int?] = [:]

    public init(_ zone: ZoneRules) {
        self.zone = zone
    }

    /// The offset for every wall time of this day, when no change is near. The span covers
    /// what `localInstant` looks at: the wall time a day either side, and the instant itself,
    /// less than a day from the wall time.
    func steadyOffset(aroundDay day: Int) -> Int? {
        if let known = steady[day] { return known }
        let start = Date(timeIntervalSince1970: Double(day - 2) * 86_400)
        let value = zone.steadyOffset(from: start, to: start.addingTimeInterval(5 * 86_400))
        steady[day] = value
        return value
    }
}

extension String {
    /// Without leading and trailing ASCII spaces, tabs and line breaks. Foundation's
    /// `trimmingCharacters(in:)` bridges through NSString on Linux, which costs more than the
    /// whole date parse; this runs for every candidate row of every tick.
    var trimmedASCIIWhitespace: String {
        let utf8 = self.utf8
        func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 10 || byte == 13 }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }) else { return "" }
        guard let last = utf8.lastIndex(where: { !isSpace($0) }) else { return "" }
        if first == utf8.startIndex, last == utf8.index(before: utf8.endIndex) { return self }
        return String(self[first...last])
    }
}
