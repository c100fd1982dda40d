public import Foundation

/// The rules of one IANA time zone: its offset from UTC at any instant, read from the system's
/// time-zone database (`/usr/share/zoneinfo`, the `tzdata` package, or `$TZDIR`).
///
/// Foundation on Linux answers from the zone data built into its copy of ICU, which is as old
/// as the toolchain that built overdued. Zones change their rules every year (a province that
/// stops changing its clocks, a country that moves its offset), and `tzdata` updates follow
/// within days; a daemon built once and run for years would read naive dates an hour off in
/// those zones. So the rules come from the system's TZif files, as they do for `date` and
/// every C program. Only when the system has no file for the zone (no `tzdata` installed)
/// does the built-in data answer, and `source` says so.
public final class ZoneRules: Sendable, Equatable, CustomStringConvertible {
    /// Where the rules came from.
    public enum Source: Sendable, Equatable {
        /// "UTC" (or "Etc/UTC", "GMT"): no offset ever, no file needed.
        case utc
        /// The system's TZif file at this path.
        case system(path: String)
        /// Foundation's built-in data, for the reason given (no system file, or one that
        /// could not be read).
        case builtIn(reason: String)
    }

    /// The zone's name, as configured.
    public let identifier: String
    public let source: Source
    private let rules: Rules
    /// The system file as it was read (nil for the other sources).
    private let stamp: FileStamp?

    /// What tells a file replaced or rewritten (a `tzdata` upgrade) from the one read.
    struct FileStamp: Sendable, Equatable {
        var device: UInt64, inode: UInt64, size: Int64, modified: Int64, modifiedNanoseconds: Int

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        }
    }

    private enum Rules: Sendable, Equatable {
        case utc
        case tzif(TZif)
        case foundation(TimeZone)
    }

    public static let utc = ZoneRules(identifier: "UTC", source: .utc, rules: .utc)

    private init(identifier: String, source: Source, rules: Rules, stamp: FileStamp? = nil) {
        self.identifier = identifier
        self.source = source
        self.rules = rules
        self.stamp = stamp
    }

    /// The rules of a TZif file's bytes (RFC 8536, versions 1 to 4).
    public convenience init(identifier: String, tzif bytes: [UInt8], path: String) throws(ZoneRulesError) {
        try self.init(identifier: identifier, tzif: bytes, path: path, stamp: nil)
    }

    private convenience init(identifier: String, tzif bytes: [UInt8], path: String, stamp: FileStamp?) throws(ZoneRulesError) {
        self.init(identifier: identifier, source: .system(path: path), rules: .tzif(try TZif(bytes)), stamp: stamp)
    }

    /// The folder of the system's zone files: `$TZDIR` when set, as for the C library.
    public static var systemDirectory: String {
        if let directory = ProcessInfo.processInfo.environment["TZDIR"], !directory.isEmpty { return directory }
        return "/usr/share/zoneinfo"
    }

    /// The zone `identifier` (an IANA name, checked by the caller), from the system's file
    /// when there is one, else from Foundation's built-in data; nil when neither knows it.
    public static func load(_ identifier: String, directory: String = systemDirectory) -> ZoneRules? {
        if identifier == "UTC" || identifier == "Etc/UTC" || identifier == "GMT" { return ZoneRules(identifier: identifier, source: .utc, rules: .utc) }
        guard isPlainName(identifier) else { return nil }
        let path = directory + "/" + identifier
        let reason: String
        let stamp = FileStamp(path: path)
        if let bytes = FileManager.default.contents(atPath: path) {
            do {
                return try ZoneRules(identifier: identifier, tzif: Array(bytes), path: path, stamp: stamp)
            } catch {
                reason = "\(path) is not a time-zone file overdued can read (\(error.message))"
            }
        } else {
            reason = "the system has no \(path) (is the tzdata package installed?)"
        }
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        return ZoneRules(identifier: identifier, source: .builtIn(reason: reason), rules: .foundation(zone))
    }

    /// The rules read again when the system's file changed since they were read (a `tzdata`
    /// upgrade rewrites it): nil while it has not, or when the new file cannot be read (the
    /// rules read before stay). One `stat` when nothing changed.
    public func reloadedIfChanged() -> ZoneRules? {
        guard case .system(let path) = source, let stamp else { return nil }
        let now = FileStamp(path: path)
        guard now != stamp, let now, let bytes = FileManager.default.contents(atPath: path),
              let newer = try? ZoneRules(identifier: identifier, tzif: Array(bytes), path: path, stamp: now) else { return nil }
        return newer
    }

    /// A name of the zone database: letters, digits, `_`, `-` and `+` between slashes, so that
    /// it stays inside the zone folder.
    static func isPlainName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.first != "." && part.first != "-"
                && part.utf8.allSatisfy { byte in
                    (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
                        || byte == 95 || byte == 45 || byte == 43
                }
        }
    }

    /// The `tzdata` release of the system's zone files (`# version 2026a` in `tzdata.zi`), if
    /// it says.
    public static func systemVersion(directory: String = systemDirectory) -> String? {
        guard let handle = FileHandle(forReadingAtPath: directory + "/tzdata.zi") else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 64) else { return nil }
        let line = String(decoding: head, as: UTF8.self).split(separator: "\n").first ?? ""
        guard line.hasPrefix("# version ") else { return nil }
        let version = line.dropFirst("# version ".count).trimmingCharacters(in: .whitespaces)
        return version.isEmpty ? nil : version
    }

    /// Seconds east of UTC at `date`.
    public func secondsFromGMT(for date: Date) -> Int {
        switch rules {
        case .utc: return 0
        case .tzif(let tzif): return tzif.offset(at: Self.seconds(date))
        case .foundation(let zone): return zone.secondsFromGMT(for: date)
        }
    }

    /// The offset in force over all of `[start, end]`, or nil when it changes in between.
    public func steadyOffset(from start: Date, to end: Date) -> Int? {
        switch rules {
        case .utc:
            return 0
        case .tzif(let tzif):
            let (from, to) = (Self.seconds(start), Self.seconds(end))
            let offset = tzif.offset(at: from)
            return tzif.changes(after: from, through: to, from: offset) ? nil : offset
        case .foundation(let zone):
            let offset = zone.secondsFromGMT(for: start)
            if let next = zone.nextDaylightSavingTimeTransition(after: start), next <= end { return nil }
            return offset
        }
    }

    public static func == (left: ZoneRules, right: ZoneRules) -> Bool {
        left === right || left.identifier == right.identifier && left.rules == right.rules
    }

    public var description: String { identifier }

    /// Whole seconds since 1970, rounded down (an offset holds from its transition's second on).
    static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        guard value.isFinite else { return 0 }
        return Int64(max(min(value, 9.0e15), -9.0e15))
    }
}

/// Why a TZif file cannot be read.
public struct ZoneRulesError: Error, Sendable, Equatable {
    public var message: String
    init(_ message: String) { self.message = message }
}
