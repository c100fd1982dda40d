import Foundation
public import TimeZoneRules

/// The whole, validated configuration of overdued. Built only by `ConfigLoader`, so a value
/// of this type has passed every check: code that receives one never re-validates.
public struct Config: Sendable, Equatable {
    /// The file this configuration was read from (absolute).
    public var sourcePath: String
    public var store: StoreSettings
    public var schedule: ScheduleSettings
    public var rules: [RuleSpec]
    /// Destinations by name, sorted by name.
    public var destinations: [DestinationSpec]
    public var log: LogSettings
    /// Valid but unsafe or unwise: a secret file every user can read, a config file every
    /// user can write, a signing key shorter than Standard Webhooks asks. `check-config`
    /// prints them; the daemon logs them at start and at each reload.
    public var warnings: [ConfigProblem] = []

    public func destination(named name: String) -> DestinationSpec? {
        destinations.first { $0.name == name }
    }
}

public struct StoreSettings: Sendable, Equatable {
    /// The maintenance app's database; overdued only ever opens it read-only.
    public var ticketsDatabase: String
    /// overdued's own database: outbox, delivery attempts, dedup state.
    public var stateDatabase: String
    /// The zone in which naive `scheduled_date` values are read: its rules, from the
    /// system's time-zone database.
    public var timeZone: ZoneRules
    /// `store.timezone` as the config writes it, for messages.
    public var timeZoneName: String
    /// How long one tick waits for a database lock before giving up until the next tick.
    public var busyTimeout: Duration
    /// Delivered and dead notifications older than this are deleted from the history (the
    /// dedup state is kept apart and never pruned by it).
    public var historyRetention: Duration
    /// `store.history_retention` when the config does not say: 90 days.
    public static let defaultHistoryRetention: Duration = .seconds(90 * 86_400)

    /// `timeZoneName` defaults to the zone's own identifier.
    public init(ticketsDatabase: String, stateDatabase: String, timeZone: ZoneRules, timeZoneName: String? = nil,
                busyTimeout: Duration, historyRetention: Duration = defaultHistoryRetention) {
        self.ticketsDatabase = ticketsDatabase
        self.stateDatabase = stateDatabase
        self.timeZone = timeZone
        self.timeZoneName = timeZoneName ?? timeZone.identifier
        self.busyTimeout = busyTimeout
        self.historyRetention = historyRetention
    }
}

public struct ScheduleSettings: Sendable, Equatable {
    public var interval: Duration
    /// Ticks on wall-clock multiples of `interval` (like `*/5` in cron).
    public var align: Bool
}

/// One rule as written in the config: which tickets it selects, how often it may notify one
/// ticket, and where the notifications go.
public struct RuleSpec: Sendable, Equatable {
    public var name: String
    public var match: MatchSpec
    public var repeatPolicy: RepeatSpec
    public var destinations: [String]
}

public struct MatchSpec: Sendable, Equatable {
    public var statusIn: [String]?
    public var statusNotIn: [String]?
    /// true: assigned to someone or to the whole team (`assigned_to = 0`); false: unassigned;
    /// nil: either.
    public var assigned: Bool?
    public var priorityIn: [String]?
    /// A ticket is overdue only once `scheduled_date + grace` has passed.
    public var grace: Duration
    public var includeDeleted: Bool

    public init(statusIn: [String]? = nil, statusNotIn: [String]? = nil, assigned: Bool? = nil,
                priorityIn: [String]? = nil, grace: Duration = .zero, includeDeleted: Bool = false) {
        self.statusIn = statusIn
        self.statusNotIn = statusNotIn
        self.assigned = assigned
        self.priorityIn = priorityIn
        self.grace = grace
        self.includeDeleted = includeDeleted
    }
}

/// Ticket fields whose change re-arms a rule for a ticket (`repeat.on_change`).
public enum ChangeField: String, Sendable, Equatable, CaseIterable {
    case assignedTo = "assigned_to"
    case scheduledDate = "scheduled_date"
    case status
    case priority
}

public struct RepeatSpec: Sendable, Equatable {
    /// Minimum time between two notifications of one ticket by one rule.
    public var every: Duration
    /// At most one notification per (ticket, scheduled_date value).
    public var oncePerScheduledDate: Bool
    /// A change of one of these fields allows a new notification at once.
    public var onChange: [ChangeField]

    public init(every: Duration = .seconds(86_400), oncePerScheduledDate: Bool = false, onChange: [ChangeField] = []) {
        self.every = every
        self.oncePerScheduledDate = oncePerScheduledDate
        self.onChange = onChange
    }
}

/// A value that must never be printed: its description is redacted.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

public enum PayloadFormat: Sendable, Equatable {
    /// `{"type":"ticket.overdue","timestamp":...,"data":{...}}`
    case standard
    /// Exactly the JSON the old automation service expects.
    case legacy
    /// A Mustache template; the template text is read when the config is loaded.
    case template(path: String, source: String)
}

public struct RetrySpec: Sendable, Equatable {
    /// nil: no limit on the count, only `giveUpAfter`.
    public var maxAttempts: Int?
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var giveUpAfter: Duration

    public init(maxAttempts: Int? = nil, initialBackoff: Duration = .seconds(5),
                maxBackoff: Duration = .seconds(1_800), giveUpAfter: Duration = .seconds(86_400)) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.giveUpAfter = giveUpAfter
    }
}

public struct DestinationSpec: Sendable, Equatable {
    public var name: String
    /// The endpoint. It may hold a token in its path or query: log `redactedURL` instead.
    public var url: Secret
    /// Scheme, host and port only: what may appear in logs and command output.
    public var redactedURL: String
    public var format: PayloadFormat
    /// Extra request headers, in name order; values may be secrets (read from files).
    public var headerList: [Header]
    /// The Standard Webhooks secret (`whsec_` + base64), checked to decode when loaded.
    public var signingSecret: Secret?
    public var minInterval: Duration
    public var concurrency: Int
    public var timeout: Duration
    public var retry: RetrySpec
    /// Whom an `https://` destination trusts and what it shows (`tls`); nil: the system's
    /// trusted certificates, no client certificate.
    public var tls: TLSSpec? = nil
    /// The HTTP proxy requests go through (`proxy_url` / `proxy_url_file`); nil: direct.
    public var proxy: ProxyURL? = nil

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: Secret
        public init(name: String, value: Secret) {
            self.name = name
            self.value = value
        }
    }
}

extension DestinationSpec {
    /// The port a proxy is asked to open a tunnel to (`CONNECT host:port`).
    public var tunnelPort: Int {
        let url = URL(string: url.value)
        return url?.port ?? (url?.scheme?.lowercased() == "https" ? 443 : 80)
    }
}

/// The TLS files of one destination, read when the config is loaded (a reload reads them
/// again). Their contents are checked by the Notifier module (`ConfigLoader.tlsProblems`).
public struct TLSSpec: Sendable, Equatable {
    /// `ca_file`: the certificates trusted instead of the system's (a private authority, or a
    /// receiver's own self-signed certificate).
    public var trustedCertificates: PEMFile?
    /// `certificate_file`: the client certificate (and its chain) shown to a receiver that asks.
    public var clientCertificate: PEMFile?
    /// `private_key_file`: the client certificate's key, a secret like the other secret files.
    public var clientKey: SecretFile?

    public init(trustedCertificates: PEMFile? = nil, clientCertificate: PEMFile? = nil, clientKey: SecretFile? = nil) {
        self.trustedCertificates = trustedCertificates
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
    }
}

/// A file's contents as the config read them, with the path they came from: messages may
/// name the path; a `Secret`'s contents are never shown.
public struct FileContents<Contents: Sendable & Equatable>: Sendable, Equatable {
    public var path: String
    public var contents: Contents
    public init(path: String, contents: Contents) {
        self.path = path
        self.contents = contents
    }
}

/// A certificate file: PEM text.
public typealias PEMFile = FileContents<String>
/// A secret file (a private key).
public typealias SecretFile = FileContents<Secret>

public enum LogTarget: String, Sendable, Equatable, CaseIterable {
    case auto, journal, stderr
}

public enum LogLevelName: String, Sendable, Equatable, CaseIterable {
    case trace, debug, info, notice, warning, error
}

public struct LogSettings: Sendable, Equatable {
    public var level: LogLevelName
    public var target: LogTarget
}
