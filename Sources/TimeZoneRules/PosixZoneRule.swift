/// A TZif footer: a POSIX `TZ` string (RFC 8536 section 3.3), such as `EST5EDT,M3.2.0,M11.1.0`
/// or `<+1030>-10:30<+11>-11,M10.1.0,M4.1.0`. It gives the offsets after the file's last
/// transition, year after year.
struct PosixZoneRule: Sendable, Equatable {
    /// Seconds east of UTC (the string counts west: `EST5` is UTC-5).
    var standardOffset: Int
    var daylight: Daylight?

    struct Daylight: Sendable, Equatable {
        var offset: Int
        /// When daylight time begins, in local standard time.
        var start: Change
        /// When it ends, in local daylight time.
        var end: Change
    }

    /// A day of the year and a local time on it.
    struct Change: Sendable, Equatable {
        enum Day: Sendable, Equatable {
            /// `Jn`: 1 to 365, February 29 never counted.
            case julianNoLeap(Int)
            /// `n`: 0 to 365, February 29 counted.
            case zeroBased(Int)
            /// `Mm.w.d`: weekday d (0 = Sunday) of week w (5 = the last) of month m.
            case monthWeekDay(month: Int, week: Int, weekday: Int)
        }
        var day: Day
        /// Seconds after local midnight; from -167 h to 167 h.
        var time: Int
    }

    init(_ text: String) throws(ZoneRulesError) {
        var parser = Parser(Array(text.utf8), text: text)
        try parser.name()
        standardOffset = -(try parser.offset(maxHours: 24))
        if parser.atEnd {
            daylight = nil
            return
        }
        try parser.name()
        var daylightOffset = standardOffset + 3600
        if !parser.atEnd, parser.peek != 44 { daylightOffset = -(try parser.offset(maxHours: 24)) }
        let start: Change, end: Change
        if parser.atEnd {
            // No rule: the C library's default, the United States' rule.
            start = Change(day: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200)
            end = Change(day: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
        } else {
            try parser.expect(44)
            start = try parser.change()
            try parser.expect(44)
            end = try parser.change()
        }
        guard parser.atEnd else { throw parser.error("unexpected text after the rule") }
        daylight = Daylight(offset: daylightOffset, start: start, end: end)
    }

    /// The offset at `instant` (seconds since 1970).
    func offset(at instant: Int64) -> Int {
        guard let daylight else { return standardOffset }
        let year = Self.year(of: instant)
        for candidate in year - 1...year + 1 {
            let (start, end) = daylightSpan(candidate, daylight)
            if instant >= start, instant < end { return daylight.offset }
        }
        return standardOffset
    }

    /// The instants in `(after, through]` at which daylight time begins or ends.
    func transitions(after start: Int64, through end: Int64) -> [Int64] {
        guard let daylight, end > start else { return [] }
        let first = Self.year(of: start) - 1, last = Self.year(of: end) + 1
        guard last - first < 1_000 else { return [] }
        var found: [Int64] = []
        for year in first...last {
            let begins = instant(of: daylight.start, year: year, offset: standardOffset)
            let ends = instant(of: daylight.end, year: year, offset: daylight.offset)
            found += [begins, ends].filter { $0 > start && $0 <= end }
        }
        return found.sorted()
    }

    /// Daylight time begun in `year`: from its start to the first end after it.
    private func daylightSpan(_ year: Int, _ daylight: Daylight) -> (Int64, Int64) {
        let start = instant(of: daylight.start, year: year, offset: standardOffset)
        var end = instant(of: daylight.end, year: year, offset: daylight.offset)
        if end <= start { end = instant(of: daylight.end, year: year + 1, offset: daylight.offset) }
        return (start, end)
    }

    /// The UTC instant of a change in `year`, its local time read at `offset`.
    private func instant(of change: Change, year: Int, offset: Int) -> Int64 {
        let day: Int
        switch change.day {
        case .julianNoLeap(let n):
            day = Self.days(year: year, month: 1, day: 1) + n - 1 + (GregorianDays.isLeap(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            day = Self.days(year: year, month: 1, day: 1) + n
        case .monthWeekDay(let month, let week, let weekday):
            let first = Self.days(year: year, month: month, day: 1)
            let firstWeekday = ((first % 7) + 11) % 7       // 1970-01-01 was a Thursday (4)
            var date = 1 + (weekday - firstWeekday + 7) % 7 + (week - 1) * 7
            while date > GregorianDays.daysIn(month: month, year: year) { date -= 7 }
            day = first + date - 1
        }
        return Int64(day) * 86_400 + Int64(change.time) - Int64(offset)
    }

    static func days(year: Int, month: Int, day: Int) -> Int {
        GregorianDays.days(year: year, month: month, day: day)
    }

    /// The UTC year of an instant.
    static func year(of instant: Int64) -> Int {
        GregorianDays.date(days: Int((Double(instant) / 86_400).rounded(.down))).year
    }

    private struct Parser {
        let bytes: [UInt8]
        let text: String
        var index = 0

        init(_ bytes: [UInt8], text: String) {
            self.bytes = bytes
            self.text = text
        }

        var atEnd: Bool { index == bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        func error(_ what: String) -> ZoneRulesError {
            ZoneRulesError("footer \"\(text)\": \(what)")
        }

        mutating func expect(_ byte: UInt8) throws(ZoneRulesError) {
            guard peek == byte else { throw error("expected \"\(Character(Unicode.Scalar(byte)))\" at \(index)") }
            index += 1
        }

        /// An abbreviation: three or more letters, or `<` … `>` with signs and digits too.
        mutating func name() throws(ZoneRulesError) {
            let start = index
            if peek == 60 {
                index += 1
                while let byte = peek, byte != 62 { index += 1; _ = byte }
                try expect(62)
                guard index - start >= 5 else { throw error("an abbreviation of fewer than three characters") }
            } else {
                while let byte = peek, (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) { index += 1 }
                guard index - start >= 3 else { throw error("an abbreviation of fewer than three letters at \(start)") }
            }
        }

        mutating func number(max: Int) throws(ZoneRulesError) -> Int {
            let start = index
            var value = 0
            while let byte = peek, byte >= 48, byte <= 57, index - start < 3 {
                value = value * 10 + Int(byte - 48)
                index += 1
            }
            guard index > start, value <= max else { throw error("a number out of range at \(start)") }
            return value
        }

        /// `[+-]hh[:mm[:ss]]` in seconds, signed as written.
        mutating func offset(maxHours: Int) throws(ZoneRulesError) -> Int {
            var sign = 1
            if peek == 43 { index += 1 } else if peek == 45 { sign = -1; index += 1 }
            var seconds = try number(max: maxHours) * 3600
            if peek == 58 {
                index += 1
                seconds += try number(max: 59) * 60
                if peek == 58 {
                    index += 1
                    seconds += try number(max: 59)
                }
            }
            return sign * seconds
        }

        mutating func change() throws(ZoneRulesError) -> Change {
            let day: Change.Day
            if peek == 74 {     // J
                index += 1
                let n = try number(max: 365)
                guard n >= 1 else { throw error("J0 is not a day") }
                day = .julianNoLeap(n)
            } else if peek == 77 {      // M
                index += 1
                let month = try number(max: 12)
                try expect(46)
                let week = try number(max: 5)
                try expect(46)
                let weekday = try number(max: 6)
                guard month >= 1, week >= 1 else { throw error("month and week count from 1") }
                day = .monthWeekDay(month: month, week: week, weekday: weekday)
            } else {
                day = .zeroBased(try number(max: 365))
            }
            var time = 7200
            if peek == 47 {
                index += 1
                time = try offset(maxHours: 167)
            }
            return Change(day: day, time: time)
        }
    }
}
