/// The content of a TZif file (RFC 8536) that offsets depend on: the transitions, the offset
/// each one brings, and the footer's rule for the instants after the last transition.
struct TZif: Sendable, Equatable {
    /// Transition instants (seconds since 1970, UTC), ascending.
    var transitions: [Int64]
    /// The offset (seconds east of UTC) in force from each transition on.
    var offsets: [Int]
    /// The offset before the first transition (the file's first local time type).
    var initialOffset: Int
    /// The footer: the offsets after the last transition; nil when the file has none (the
    /// last transition's offset then holds for ever).
    var footer: PosixZoneRule?

    init(_ bytes: [UInt8]) throws(ZoneRulesError) {
        var reader = ByteReader(bytes)
        let first = try Header(&reader)
        guard first.version >= 2 else {
            (transitions, offsets, initialOffset) = try Self.block(&reader, first, timeSize: 4)
            footer = nil
            return
        }
        try reader.skip(first.blockSize(timeSize: 4))
        let second = try Header(&reader)
        (transitions, offsets, initialOffset) = try Self.block(&reader, second, timeSize: 8)
        guard try reader.byte() == 10 else { throw ZoneRulesError("the footer does not start with a new line") }
        var text: [UInt8] = []
        while true {
            let byte = try reader.byte()
            if byte == 10 { break }
            text.append(byte)
        }
        footer = text.isEmpty ? nil : try PosixZoneRule(String(decoding: text, as: UTF8.self))
    }

    private struct Header {
        var version: Int
        var isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int

        init(_ reader: inout ByteReader) throws(ZoneRulesError) {
            guard try reader.bytes(4) == Array("TZif".utf8) else { throw ZoneRulesError("no TZif header") }
            let version = try reader.byte()
            self.version = version == 0 ? 1 : Int(version) - 48
            guard (1...4).contains(self.version) else { throw ZoneRulesError("unknown TZif version \(version)") }
            try reader.skip(15)
            isutcnt = try reader.count()
            isstdcnt = try reader.count()
            leapcnt = try reader.count()
            timecnt = try reader.count()
            typecnt = try reader.count()
            charcnt = try reader.count()
            guard typecnt >= 1, isutcnt == 0 || isutcnt == typecnt, isstdcnt == 0 || isstdcnt == typecnt else {
                throw ZoneRulesError("inconsistent counts in the TZif header")
            }
        }

        func blockSize(timeSize: Int) -> Int {
            timecnt * timeSize + timecnt + typecnt * 6 + charcnt + leapcnt * (timeSize + 4) + isstdcnt + isutcnt
        }
    }

    private static func block(_ reader: inout ByteReader, _ header: Header, timeSize: Int) throws(ZoneRulesError)
        -> (transitions: [Int64], offsets: [Int], initialOffset: Int) {
        var times: [Int64] = []
        times.reserveCapacity(header.timecnt)
        for _ in 0..<header.timecnt {
            let time = timeSize == 8 ? try reader.int64() : Int64(try reader.int32())
            if let last = times.last, time <= last { throw ZoneRulesError("transition times are not ascending") }
            times.append(time)
        }
        var indices: [Int] = []
        for _ in 0..<header.timecnt {
            let index = Int(try reader.byte())
            guard index < header.typecnt else { throw ZoneRulesError("a transition names local time type \(index) of \(header.typecnt)") }
            indices.append(index)
        }
        var typeOffsets: [Int] = []
        for _ in 0..<header.typecnt {
            let offset = Int(try reader.int32())
            guard abs(offset) < 26 * 3600 else { throw ZoneRulesError("an offset of \(offset) s") }
            typeOffsets.append(offset)
            try reader.skip(2)    // isdst, abbreviation index: not needed for offsets
        }
        try reader.skip(header.charcnt + header.leapcnt * (timeSize + 4) + header.isstdcnt + header.isutcnt)
        return (times, indices.map { typeOffsets[$0] }, typeOffsets[0])
    }

    /// The offset at `instant` (seconds since 1970).
    func offset(at instant: Int64) -> Int {
        // After the last transition, or always when there is none (RFC 8536, 3.2), the footer.
        if let footer, transitions.last.map({ instant >= $0 }) ?? true { return footer.offset(at: instant) }
        // The last transition at or before the instant.
        var low = 0, high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= instant { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? initialOffset : offsets[low - 1]
    }

    /// Whether the offset differs from `offset` at some instant in `(start, end]`.
    func changes(after start: Int64, through end: Int64, from offset: Int) -> Bool {
        guard end > start else { return false }
        var low = 0, high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= start { low = middle + 1 } else { high = middle }
        }
        var index = low
        while index < transitions.count, transitions[index] <= end {
            if self.offset(at: transitions[index]) != offset { return true }
            index += 1
        }
        guard let footer else { return false }
        let from = max(start, transitions.last ?? start)
        return footer.transitions(after: from, through: end).contains { self.offset(at: $0) != offset }
    }
}

/// Big-endian fields of a TZif file, each read checked against the end of the file.
private struct ByteReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func bytes(_ count: Int) throws(ZoneRulesError) -> [UInt8] {
        guard count >= 0, count <= bytes.count - index else { throw ZoneRulesError("the file ends early") }
        defer { index += count }
        return Array(bytes[index..<index + count])
    }

    mutating func skip(_ count: Int) throws(ZoneRulesError) {
        guard count >= 0, count <= bytes.count - index else { throw ZoneRulesError("the file ends early") }
        index += count
    }

    mutating func byte() throws(ZoneRulesError) -> UInt8 { try bytes(1)[0] }

    mutating func int32() throws(ZoneRulesError) -> Int32 {
        Int32(bitPattern: try bytes(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    mutating func int64() throws(ZoneRulesError) -> Int64 {
        Int64(bitPattern: try bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    /// A count of the header: a 32-bit field, bounded so that the blocks it sizes fit in memory.
    mutating func count() throws(ZoneRulesError) -> Int {
        let value = try int32()
        guard value >= 0, value <= 1_000_000 else { throw ZoneRulesError("a count of \(value) in the TZif header") }
        return Int(value)
    }
}
