public import Foundation
public import TimeZoneRules
import TextEscaping

/// Reads a config file, validates all of it and resolves the files it names (secrets,
/// templates), returning a `Config` or every problem at once.
///
/// Relative paths of databases and templates are read from the config file's folder;
/// relative secret files (`url_file`, header files, `signing_secret_file`) from
/// `$CREDENTIALS_DIRECTORY` when systemd sets it (`LoadCredential=`), else from that folder.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    /// Checks a payload template (source, path) and says why it cannot be used, or nil.
    /// Templates are rendered by the Notifier module, which this module does not know: the
    /// executable passes its check in, so `check-config` and a reload refuse a bad template.
    public var templateProblem: (@Sendable (_ source: String, _ path: String) -> String?)?
    /// Checks a destination's TLS files (certificates parse, the key fits its certificate);
    /// each problem is named by its key under `tls` (`ca_file`). Passed in by the executable
    /// for the same reason as `templateProblem`: TLS is the Notifier module's.
    public var tlsProblems: (@Sendable (TLSSpec) -> [ConfigProblem])?
    /// Whether `store.tickets_database` must name a readable file (true: the daemon, `scan`,
    /// `check-config`...). The commands that read only the state database (`history`, `queue`,
    /// `send-test`) load the config without that check: the daemon keeps delivering while the
    /// tickets file is gone, and its queue must stay inspectable and requeueable meanwhile.
    public var requiresTicketsDatabase: Bool
    /// Whether secret files (`url_file`, header files, `signing_secret_file`) must be read.
    /// `history`, `queue` and `queue retry` send nothing: run by root beside the service, they
    /// have no `$CREDENTIALS_DIRECTORY`, and a secret they cannot read is then no problem (a
    /// `url_file` not read shows as such where the destination's URL would).
    public var readsSecrets: Bool
    /// Whether the state database's folder may be missing (`check-config` before the service's
    /// first start, when systemd has not created its `StateDirectory=` yet; the command decides).
    public var stateFolderMayBeMissing = false

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                templateProblem: (@Sendable (_ source: String, _ path: String) -> String?)? = nil,
                tlsProblems: (@Sendable (TLSSpec) -> [ConfigProblem])? = nil,
                requiresTicketsDatabase: Bool = true, readsSecrets: Bool = true) {
        self.environment = environment
        self.templateProblem = templateProblem
        self.tlsProblems = tlsProblems
        self.requiresTicketsDatabase = requiresTicketsDatabase
        self.readsSecrets = readsSecrets
    }

    /// `--config`, else `$OVERDUED_CONFIG`, else `/etc/overdued/config.json`.
    public static func defaultPath(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment["OVERDUED_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        return "/etc/overdued/config.json"
    }

    public func load(path: String) throws(ConfigError) -> Config {
        let absolute = Self.absoluteAsWritten(path, relativeTo: FileManager.default.currentDirectoryPath)
        let data: Data
        // A FIFO put where the config belongs would hold the read (and a reload) for as long as
        // nobody writes to it. A pipe given on purpose (`--config /dev/stdin`, a shell's
        // `<(envsubst …)`, which is /dev/fd/N) is read.
        var info = stat()
        let special = stat(absolute, &info) == 0 && info.st_mode & S_IFMT != S_IFREG && info.st_mode & S_IFMT != S_IFDIR
        let onPurpose = absolute.hasPrefix("/dev/") || absolute.hasPrefix("/proc/")
        if special, !onPurpose {
            throw ConfigError(file: absolute, problems: [ConfigProblem(path: "", message: "cannot read the config file: it is not a regular file (a FIFO, socket or device)")])
        }
        // No config is megabytes long: a larger file (or /dev/zero) is refused, not read to
        // the end (a reload would not end, and would take the memory).
        let tooLarge = ConfigError(file: absolute, problems: [ConfigProblem(
            path: "", message: "cannot read the config file: it is more than the \(Self.largestNamedFile >> 20) MiB a config may be")])
        if !special, info.st_mode & S_IFMT == S_IFREG, info.st_size > Self.largestNamedFile { throw tooLarge }
        do {
            if special, let handle = FileHandle(forReadingAtPath: absolute) {
                // Foundation's whole-file read refuses what is not a regular file.
                defer { try? handle.close() }
                data = try handle.read(upToCount: Self.largestNamedFile + 1) ?? Data()
            } else {
                data = try Data(contentsOf: URL(fileURLWithPath: absolute))
            }
        } catch {
            throw ConfigError(file: absolute, problems: [ConfigProblem(path: "", message: "cannot read the config file: \(Self.reason(error, reading: absolute))")])
        }
        if data.count > Self.largestNamedFile { throw tooLarge }
        return try load(data: data, path: absolute)
    }

    public func load(data: Data, path: String) throws(ConfigError) -> Config {
        // Strict first: Foundation's decoder also takes trailing commas, which jq, Python
        // and every other tool the operator may point at the file refuse.
        if let reason = Self.jsonProblem(data) {
            throw ConfigError(file: path, problems: [ConfigProblem(path: "", message: "the file is not valid JSON: \(reason)")])
        }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            // JSON by its grammar that Foundation still cannot read: a number beyond a
            // double (1e400), a lone UTF-16 surrogate (\ud83d), nesting past 512.
            throw ConfigError(file: path, problems: [ConfigProblem(path: "", message: "the file is not valid JSON: \(Self.foundationReason(data))")])
        }
        var reader = ConfigReader()
        for duplicate in DuplicateKeys.find(in: data) {
            reader.report(duplicate.path, "is written twice (again on line \(duplicate.line)); JSON keeps only one of the two, so remove the one you do not mean")
        }
        let folder = (path as NSString).deletingLastPathComponent
        let config = parse(root, reader: &reader, path: path, folder: folder)
        guard reader.problems.isEmpty, let config else {
            throw ConfigError(file: path, problems: reader.problems)
        }
        return config
    }

    // MARK: - sections

    private func parse(_ root: JSONValue, reader: inout ConfigReader, path: String, folder: String) -> Config? {
        guard let top = reader.object(root, at: "", allowed: ["store", "schedule", "rules", "destinations", "log"]) else {
            return nil
        }
        if top["store"] == nil { reader.report("store", "is required (it names the tickets database)") }
        if top["rules"] == nil { reader.report("rules", "is required: list at least one rule") }
        let store = parseStore(top["store"], reader: &reader, folder: folder)
        let schedule = parseSchedule(top["schedule"], reader: &reader)
        let destinations = parseDestinations(top["destinations"], reader: &reader, folder: folder)
        // Rules are checked against every name defined, valid or not: an invalid destination is
        // reported once, under its own path, not again as "not defined" by each rule using it.
        let definedDestinations = if case .object(let members)? = top["destinations"] { Array(members.keys) } else { [String]() }
        let rules = parseRules(top["rules"], reader: &reader, destinations: definedDestinations)
        let log = parseLog(top["log"], reader: &reader)
        guard let store, let rules else { return nil }
        if let mode = Self.mode(of: path), mode & 0o004 != 0, !reader.inlineSecrets.isEmpty {
            reader.warn("", "the config file \(path) is readable by every user (mode \(Self.octal(mode))) and holds secrets in its text ("
                + reader.inlineSecrets.joined(separator: ", ") + "): move them into secret files (url_file, {\"file\": …} for a header, "
                + "systemd credentials), or chmod o-r the config (640 with the service's group)")
        }
        if let mode = Self.mode(of: path), mode & 0o002 != 0 {
            reader.warn("", "the config file \(path) is writable by every user (mode \(Self.octal(mode))): whoever can write it "
                + "chooses where notifications go and which headers they carry; chmod o-w it")
        }
        return Config(sourcePath: path, store: store, schedule: schedule, rules: rules,
                      destinations: destinations, log: log, warnings: reader.warnings)
    }

    private func parseStore(_ value: JSONValue?, reader: inout ConfigReader, folder: String) -> StoreSettings? {
        let path = "store"
        guard let members = reader.object(value, at: path, allowed: ["tickets_database", "state_database", "timezone", "busy_timeout", "history_retention"]) else {
            return nil
        }
        var tickets: String?
        if let raw = reader.string(members, "tickets_database", at: path, required: true) {
            let resolved = Self.absoluteAsWritten(raw, relativeTo: folder)
            if requiresTicketsDatabase, let problem = Self.readableFileProblem(resolved, what: "tickets database") {
                reader.report("store.tickets_database", problem)
            } else {
                tickets = resolved
            }
        }
        var state: String?
        let rawState = reader.string(members, "state_database", at: path)
            ?? environment["STATE_DIRECTORY"].flatMap { $0.isEmpty ? nil : "\($0)/state.sqlite" }
            ?? "/var/lib/overdued/state.sqlite"
        let resolvedState = Self.absoluteToTheLastName(rawState, relativeTo: folder)
        var isDirectory: ObjCBool = false
        let parent = (resolvedState as NSString).deletingLastPathComponent
        let folderExists = FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory)
        if let hidden = Self.unreachable(resolvedState) {
            // Behind a folder this user may not search (the service's own under
            // `DynamicUser=`: /var/lib/private is root's, 0700): not missing, and not "no
            // state database yet" either.
            reader.report("store.state_database", "\(resolvedState) \(hidden); give this user search access to the folders "
                + "on its path (for the service: keep it under StateDirectory=, /var/lib/overdued), or run overdued's commands "
                + "as root or as the user the service runs as")
        } else if folderExists ? !isDirectory.boolValue : !stateFolderMayBeMissing {
            reader.report("store.state_database", folderExists ? "\(parent) is not a folder; choose another path"
                : "the folder \(parent) does not exist; create it or choose another path")
        } else if resolvedState == tickets || tickets.map({ Self.sameFile(resolvedState, $0) }) == true {
            reader.report("store.state_database", "must not be the tickets database: overdued never writes to the app's database")
        } else {
            state = resolvedState
        }
        var zone: ZoneRules?
        let zoneName = reader.string(members, "timezone", at: path) ?? "UTC"
        if let known = Self.zoneRules(zoneName) {
            zone = known
            if case .builtIn(let reason) = known.source {
                reader.warn("store.timezone", "\(reason): \(zoneName) is read from the zone data built into overdued, which is as "
                    + "old as the build and misses the rule changes of later tzdata releases; install the tzdata package")
            }
        } else {
            reader.report("store.timezone", Self.zoneRefusal(zoneName))
        }
        let busy = reader.duration(members, "busy_timeout", at: path) ?? .seconds(5)
        let retention = reader.duration(members, "history_retention", at: path, minimum: .seconds(86_400)) ?? StoreSettings.defaultHistoryRetention
        guard let tickets, let state, let zone else { return nil }
        return StoreSettings(ticketsDatabase: tickets, stateDatabase: state, timeZone: zone, timeZoneName: zoneName, busyTimeout: busy,
                             historyRetention: retention)
    }

    private func parseSchedule(_ value: JSONValue?, reader: inout ConfigReader) -> ScheduleSettings {
        let members = reader.object(value, at: "schedule", allowed: ["interval", "align"])
        return ScheduleSettings(
            interval: reader.duration(members, "interval", at: "schedule", minimum: .seconds(1)) ?? .seconds(300),
            align: reader.bool(members, "align", at: "schedule") ?? true
        )
    }

    private func parseLog(_ value: JSONValue?, reader: inout ConfigReader) -> LogSettings {
        let members = reader.object(value, at: "log", allowed: ["level", "target"])
        return LogSettings(
            level: reader.choice(members, "level", at: "log", as: LogLevelName.self) ?? .info,
            target: reader.choice(members, "target", at: "log", as: LogTarget.self) ?? .auto
        )
    }

    private func parseRules(_ value: JSONValue?, reader: inout ConfigReader, destinations: [String]) -> [RuleSpec]? {
        guard let value else { return nil }
        guard case .array(let items) = value else {
            reader.report("rules", "expected a list of rules, found \(value.kind)")
            return nil
        }
        guard !items.isEmpty else {
            reader.report("rules", "is empty: list at least one rule, or overdued has nothing to do")
            return nil
        }
        var rules: [RuleSpec] = []
        var complete = true
        for (index, item) in items.enumerated() {
            let path = "rules[\(index)]"
            if let rule = parseRule(item, at: path, reader: &reader, destinations: destinations) {
                if rules.contains(where: { $0.name == rule.name }) {
                    reader.report("\(path).name", "\"\(rule.name)\" is already the name of another rule; rule names must be unique (dedup state is kept per rule)")
                    complete = false
                } else {
                    rules.append(rule)
                }
            } else {
                complete = false
            }
        }
        return complete ? rules : nil
    }

    private func parseRule(_ value: JSONValue, at path: String, reader: inout ConfigReader, destinations: [String]) -> RuleSpec? {
        guard let members = reader.object(value, at: path, allowed: ["name", "match", "repeat", "destinations"]) else {
            return nil
        }
        let name = reader.string(members, "name", at: path, required: true)
        if let name, !name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) {
            reader.report("\(path).name", "\"\(name)\" may only hold letters, digits, '-', '_' and '.'")
        }
        let match = parseMatch(members["match"], at: "\(path).match", reader: &reader)
        let repeatPolicy = parseRepeat(members["repeat"], at: "\(path).repeat", reader: &reader)
        var targets: [String]?
        if members["destinations"] == nil {
            reader.report("\(path).destinations", "is required: name at least one destination")
        } else if let list = reader.stringList(members, "destinations", at: path, required: true) {
            targets = list
            for (index, target) in list.enumerated() where !destinations.contains(target) {
                var message = "destination \"\(target)\" is not defined under \"destinations\""
                if let guess = Suggestion.closest(to: target, among: destinations) { message += "; did you mean \"\(guess)\"?" }
                reader.report("\(path).destinations[\(index)]", message)
                targets = nil
            }
        }
        guard let name, let match, let repeatPolicy, let targets else { return nil }
        return RuleSpec(name: name, match: match, repeatPolicy: repeatPolicy, destinations: targets)
    }

    private func parseMatch(_ value: JSONValue?, at path: String, reader: inout ConfigReader) -> MatchSpec? {
        guard let value else { return MatchSpec() }
        let before = reader.problems.count
        guard let members = reader.object(value, at: path, allowed: [
            "status_in", "status_not_in", "assigned", "priority_in", "grace", "include_deleted",
        ]) else { return nil }
        let match = MatchSpec(
            statusIn: reader.stringList(members, "status_in", at: path),
            statusNotIn: reader.stringList(members, "status_not_in", at: path),
            assigned: reader.bool(members, "assigned", at: path),
            priorityIn: reader.stringList(members, "priority_in", at: path),
            grace: reader.duration(members, "grace", at: path) ?? .zero,
            includeDeleted: reader.bool(members, "include_deleted", at: path) ?? false
        )
        if let statusIn = match.statusIn, let statusNotIn = match.statusNotIn {
            let both = statusIn.filter(statusNotIn.contains)
            if !both.isEmpty {
                reader.report("\(path).status_not_in", "lists \(both.map { "\"\($0)\"" }.joined(separator: ", ")) which status_in also lists")
            }
        }
        return reader.problems.count == before ? match : nil
    }

    private func parseRepeat(_ value: JSONValue?, at path: String, reader: inout ConfigReader) -> RepeatSpec? {
        guard let value else { return RepeatSpec() }
        let before = reader.problems.count
        guard let members = reader.object(value, at: path, allowed: ["every", "once_per_scheduled_date", "on_change"]) else {
            return nil
        }
        var fields: [ChangeField] = []
        if let names = reader.stringList(members, "on_change", at: path) {
            for (index, name) in names.enumerated() {
                if let field = ChangeField(rawValue: name) {
                    fields.append(field)
                } else {
                    let allowed = ChangeField.allCases.map(\.rawValue)
                    var message = "\"\(name)\" is not a field overdued watches; use \(allowed.joined(separator: ", "))"
                    if let guess = Suggestion.closest(to: name, among: allowed) { message += "; did you mean \"\(guess)\"?" }
                    reader.report("\(path).on_change[\(index)]", message)
                }
            }
        }
        let defaults = RepeatSpec()
        let policy = RepeatSpec(
            every: reader.duration(members, "every", at: path, minimum: .seconds(1)) ?? defaults.every,
            oncePerScheduledDate: reader.bool(members, "once_per_scheduled_date", at: path) ?? false,
            onChange: fields
        )
        if policy.oncePerScheduledDate, members["every"] != nil {
            reader.warn(ConfigReader.join(path, "every"),
                        "is not applied with once_per_scheduled_date: true (a ticket is notified once per date, however long it stays overdue); remove one of the two")
        }
        return reader.problems.count == before ? policy : nil
    }

    private func parseDestinations(_ value: JSONValue?, reader: inout ConfigReader, folder: String) -> [DestinationSpec] {
        guard let value else { return [] }
        guard case .object(let members) = value else {
            reader.report("destinations", "expected an object of named destinations, found \(value.kind)")
            return []
        }
        var result: [DestinationSpec] = []
        for name in members.keys.sorted() {
            let path = "destinations.\(name)"
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                reader.report(path, "the destination name \"\(name)\" may only hold letters, digits, '-', '_' and '.'")
                continue
            }
            if let destination = parseDestination(name: name, members[name]!, at: path, reader: &reader, folder: folder) {
                result.append(destination)
            }
        }
        return result
    }

    private func parseDestination(name: String, _ value: JSONValue, at path: String,
                                  reader: inout ConfigReader, folder: String) -> DestinationSpec? {
        let before = reader.problems.count
        guard let members = reader.object(value, at: path, allowed: [
            "url", "url_file", "format", "headers", "signing_secret_file", "min_interval", "concurrency", "timeout", "retry", "tls",
            "proxy_url", "proxy_url_file",
        ]) else { return nil }

        let endpoint = parseURL(members, at: path, reader: &reader, folder: folder)
        let url = endpoint.url
        let format = parseFormat(members["format"], at: "\(path).format", reader: &reader, folder: folder)
        var headers = parseHeaders(members["headers"], at: "\(path).headers", reader: &reader, folder: folder)
        if let basicAuthorization = endpoint.basicAuthorization {
            if let set = headers.first(where: { $0.name.caseInsensitiveCompare("Authorization") == .orderedSame }) {
                reader.report("\(path).headers.\(set.name)",
                              "the URL holds a user and password, which are sent as the Authorization header; give one or the other")
            } else {
                headers.append(.init(name: "Authorization", value: Secret(basicAuthorization)))
                headers.sort { $0.name < $1.name }
            }
        }

        warnOfPlainHTTP(url, headers: headers, at: path, reader: &reader, fromFile: members["url_file"] != nil)

        let signingSecret = parseSigningSecret(members, at: path, reader: &reader, folder: folder)
        let retry = parseRetry(members["retry"], at: "\(path).retry", reader: &reader)

        let tls = parseTLS(members["tls"], at: "\(path).tls", reader: &reader, folder: folder)
        if tls != nil, let url, let scheme = URL(string: url)?.scheme?.lowercased(), scheme != "https" {
            reader.report("\(path).tls", "applies to https:// URLs only; this destination's URL is \(scheme)://")
        }

        let proxy = parseProxy(members, at: path, reader: &reader, folder: folder)

        let destination = DestinationSpec(
            name: name,
            url: Secret(url ?? ""),
            redactedURL: endpoint.redacted,
            format: format,
            headerList: headers,
            signingSecret: signingSecret,
            minInterval: reader.duration(members, "min_interval", at: path) ?? .milliseconds(200),
            concurrency: reader.integer(members, "concurrency", at: path, range: 1...256) ?? 1,
            timeout: reader.duration(members, "timeout", at: path, minimum: .milliseconds(100)) ?? .seconds(10),
            retry: retry,
            tls: tls,
            proxy: proxy
        )
        return reader.problems.count == before ? destination : nil
    }

    /// A warning for plain http:// to another machine, naming what travels unencrypted (the
    /// credentials by their place, never their value). Loopback receivers (a local relay, the
    /// demo's sink) are not warned about.
    private func warnOfPlainHTTP(_ url: String?, headers: [DestinationSpec.Header], at path: String,
                                 reader: inout ConfigReader, fromFile: Bool) {
        guard let url, let endpoint = try? WebhookURL(url), endpoint.isPlainHTTPOffThisMachine else { return }
        var credentials = headers.map { "the \($0.name) header" }
        if endpoint.url.query != nil { credentials.append("the query") }
        let exposed = credentials.isEmpty ? "" : ", " + credentials.joined(separator: ", ")
        reader.warn(fromFile ? "\(path).url_file" : "\(path).url",
                    "is plain http:// to \(endpoint.redacted), off this machine: the payloads (ticket data)\(exposed) "
                        + "and the URL's path travel unencrypted, readable and changeable on the way; use https://")
    }

    /// `url` or `url_file`: the URL to request (credentials taken out of it), how it may be
    /// logged, and the Authorization header its user and password make.
    private func parseURL(_ members: [String: JSONValue], at path: String, reader: inout ConfigReader,
                          folder: String) -> (url: String?, redacted: String, basicAuthorization: String?) {
        var url: String?
        let inline = reader.string(members, "url", at: path)
        let file = reader.string(members, "url_file", at: path)
        switch (inline, file) {
        case (nil, nil):
            if members["url"] == nil, members["url_file"] == nil {
                reader.report("\(path).url", "is required (or url_file, to read it from a file such as a systemd credential)")
            }
        case (.some, .some):
            reader.report("\(path).url_file", "give either url or url_file, not both")
        case (.some(let text), nil):
            // Surrounding whitespace is trimmed, as it is from a url_file.
            url = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if let components = URLComponents(string: WebhookURL.encodingInvalidCharacters(url ?? "")), Self.holdsSecret(components) {
                reader.noteInlineSecret("\(path).url")
            }
        case (nil, .some(let fileName)):
            url = readSecretFile(fileName, at: "\(path).url_file", reader: &reader, folder: folder)
        }
        var redacted = url == nil && file != nil && !readsSecrets ? "url_file not read" : ""
        var basicAuthorization: String?
        if let text = url {
            do {
                let endpoint = try WebhookURL(text)
                redacted = endpoint.redacted
                basicAuthorization = endpoint.basicAuthorization
                // Requested as parsed: without the credentials, which go in the header instead,
                // and with what a URL cannot hold percent-encoded.
                url = endpoint.url.absoluteString
            } catch {
                // The value may be secret: describe it, do not echo it.
                reader.report(file == nil ? "\(path).url" : "\(path).url_file", error.description)
                url = nil
            }
        }
        return (url, redacted, basicAuthorization)
    }

    /// `format`: "standard" (default), "legacy", or `{"template": "path"}`, its file read and checked.
    private func parseFormat(_ value: JSONValue?, at path: String, reader: inout ConfigReader, folder: String) -> PayloadFormat {
        var format = PayloadFormat.standard
        switch value {
        case nil, .null?, .string("standard")?: break
        case .string("legacy")?: format = .legacy
        case .object(let object)?:
            _ = reader.object(.object(object), at: path, allowed: ["template"])
            if let templatePath = reader.string(object, "template", at: path, required: true) {
                let resolved = Self.absolute(templatePath, relativeTo: folder)
                do {
                    let source = try Self.readNamedTextFile(resolved)
                    if let mode = Self.mode(of: resolved), mode & 0o002 != 0 {
                        reader.warn("\(path).template", "the template \(resolved) is writable by every user (mode \(Self.octal(mode))): "
                            + "whoever can write it decides what the payloads say; chmod o-w it")
                    }
                    if let problem = templateProblem?(source, resolved) {
                        reader.report("\(path).template", problem)
                    } else {
                        format = .template(path: resolved, source: source)
                    }
                } catch {
                    reader.report("\(path).template", "cannot read the template \(resolved): \(error.reason)")
                }
            }
        case .string(let other)?:
            var message = "\"\(other)\" is not a format; use \"standard\", \"legacy\" or {\"template\": \"path\"}"
            if let guess = Suggestion.closest(to: other, among: ["standard", "legacy"]) { message += "; did you mean \"\(guess)\"?" }
            reader.report(path, message)
        case let other?:
            reader.report(path, "expected \"standard\", \"legacy\" or {\"template\": \"path\"}, found \(other.kind)")
        }
        return format
    }

    /// `signing_secret_file`: a Standard Webhooks secret (`whsec_` and base64), read from its file.
    private func parseSigningSecret(_ members: [String: JSONValue], at path: String, reader: inout ConfigReader, folder: String) -> Secret? {
        var signingSecret: Secret?
        if let secretFile = reader.string(members, "signing_secret_file", at: path),
           let text = readSecretFile(secretFile, at: "\(path).signing_secret_file", reader: &reader, folder: folder) {
            if let keys = SigningSecretFormat.keys(text) {
                signingSecret = Secret(text)
                for (index, key) in keys.enumerated() where key.count < SigningSecretFormat.recommendedKeyBytes {
                    let which = keys.count == 1 ? "the key" : "key \(index + 1) of \(keys.count)"
                    reader.warn("\(path).signing_secret_file", "\(which) is \(key.count) byte(s); Standard Webhooks asks for "
                        + "\(SigningSecretFormat.recommendedKeyBytes) to 64 random bytes: make one with `echo whsec_$(openssl rand -base64 32)` "
                        + "and give the receiver the same")
                }
            } else {
                reader.report("\(path).signing_secret_file", "does not hold a Standard Webhooks secret: expected \"whsec_\" followed by base64 "
                    + "(e.g. made with `openssl rand -base64 32`), or several such secrets separated by spaces or lines to rotate them")
            }
        }
        return signingSecret
    }

    /// `retry`: attempts, backoff and the time budget, each with its default.
    private func parseRetry(_ value: JSONValue?, at retryPath: String, reader: inout ConfigReader) -> RetrySpec {
        let retryMembers = reader.object(value, at: retryPath, allowed: ["max_attempts", "initial_backoff", "max_backoff", "give_up_after"])
        let defaults = RetrySpec()
        let retry = RetrySpec(
            maxAttempts: reader.integer(retryMembers, "max_attempts", at: retryPath, range: 1...10_000),
            initialBackoff: reader.duration(retryMembers, "initial_backoff", at: retryPath, minimum: .milliseconds(1)) ?? defaults.initialBackoff,
            maxBackoff: reader.duration(retryMembers, "max_backoff", at: retryPath, minimum: .milliseconds(1)) ?? defaults.maxBackoff,
            giveUpAfter: reader.duration(retryMembers, "give_up_after", at: retryPath, minimum: .seconds(1)) ?? defaults.giveUpAfter
        )
        if retry.maxBackoff < retry.initialBackoff {
            reader.report("\(retryPath).max_backoff", "must be at least initial_backoff (\(DurationText.format(retry.initialBackoff)))")
        }
        return retry
    }

    /// `tls`: `ca_file` (certificates trusted instead of the system's), `certificate_file` and
    /// `private_key_file` (a client certificate). The certificates are read beside the config
    /// like templates; the key is a secret file (`$CREDENTIALS_DIRECTORY`). The commands that
    /// read no secrets read none of these: they send nothing.
    private func parseTLS(_ value: JSONValue?, at path: String, reader: inout ConfigReader, folder: String) -> TLSSpec? {
        guard let value, value != .null else { return nil }
        let before = reader.problems.count
        guard let members = reader.object(value, at: path, allowed: ["ca_file", "certificate_file", "private_key_file"]) else {
            return nil
        }
        let caName = reader.string(members, "ca_file", at: path)
        let certificateName = reader.string(members, "certificate_file", at: path)
        let keyName = reader.string(members, "private_key_file", at: path)
        // A key written with null counts as absent, like everywhere in the config.
        func absent(_ key: String) -> Bool { members[key] == nil || members[key] == .null }
        switch (certificateName, keyName) {
        case (.some, nil) where absent("private_key_file"):
            reader.report("\(path).private_key_file", "is required with certificate_file: the key of the client certificate")
        case (nil, .some) where absent("certificate_file"):
            reader.report("\(path).certificate_file", "is required with private_key_file: the client certificate of that key")
        case (nil, nil) where absent("ca_file") && absent("certificate_file") && absent("private_key_file"):
            reader.report(path, "names no file: give ca_file, or certificate_file and private_key_file, or remove tls")
        default:
            break
        }
        guard readsSecrets, reader.problems.count == before else { return nil }
        var spec = TLSSpec()
        if let caName {
            spec.trustedCertificates = readPEMFile(caName, at: "\(path).ca_file", reader: &reader, folder: folder)
        }
        if let certificateName {
            spec.clientCertificate = readPEMFile(certificateName, at: "\(path).certificate_file", reader: &reader, folder: folder)
        }
        if let keyName, let key = readSecretFile(keyName, at: "\(path).private_key_file", reader: &reader, folder: folder) {
            spec.clientKey = SecretFile(path: secretFilePath(keyName, folder: folder), contents: Secret(key))
        }
        if reader.problems.count == before, let tlsProblems {
            for problem in tlsProblems(spec) {
                reader.report(problem.path.isEmpty ? path : "\(path).\(problem.path)", problem.message)
            }
        }
        return reader.problems.count == before ? spec : nil
    }

    /// `proxy_url` or `proxy_url_file` (a secret file, as the URL may hold a password).
    private func parseProxy(_ members: [String: JSONValue], at path: String, reader: inout ConfigReader, folder: String) -> ProxyURL? {
        let inline = reader.string(members, "proxy_url", at: path)
        let file = reader.string(members, "proxy_url_file", at: path)
        let text: String?
        switch (inline, file) {
        case (.some, .some):
            reader.report("\(path).proxy_url_file", "give either proxy_url or proxy_url_file, not both")
            return nil
        case (.some(let value), nil):
            text = value
        case (nil, .some(let name)):
            text = readSecretFile(name, at: "\(path).proxy_url_file", reader: &reader, folder: folder)
        case (nil, nil):
            return nil
        }
        guard let text else { return nil }
        do {
            return try ProxyURL(text)
        } catch {
            reader.report(file == nil ? "\(path).proxy_url" : "\(path).proxy_url_file", error.description)
            return nil
        }
    }

    /// A certificate file (not a secret): read beside the config when relative.
    private func readPEMFile(_ name: String, at path: String, reader: inout ConfigReader, folder: String) -> PEMFile? {
        if let what = Self.valueInsteadOfFileName(name) {
            reader.report(path, "is not a file name: it holds \(what); put it in a file and give the file's path")
            return nil
        }
        let resolved = Self.absolute(name, relativeTo: folder)
        let data: Data
        do {
            data = try Self.readNamedFile(resolved)
        } catch {
            reader.report(path, "cannot read \(resolved): \(error.reason)")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            reader.report(path, "\(resolved) is not PEM text (a DER file? convert it: openssl x509 -inform der -in FILE -out FILE.pem)")
            return nil
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            reader.report(path, "the file \(resolved) is empty")
            return nil
        }
        Self.warnIfWritableByEveryUser(resolved, at: path, reader: &reader)
        return PEMFile(path: resolved, contents: text)
    }

    /// A file the config names that every user can write: whoever does decides where the
    /// notifications go (`url_file`), which receivers are trusted (`ca_file`) or what a
    /// signature proves.
    static func warnIfWritableByEveryUser(_ resolved: String, at path: String, reader: inout ConfigReader) {
        guard let mode = mode(of: resolved), mode & 0o002 != 0 else { return }
        reader.warn(path, "the file \(resolved) is writable by every user (mode \(octal(mode))): whoever can write it changes "
            + "where notifications go, whom they trust or how they are signed; chmod o-w it")
    }

    /// What a file-name key holds when it is the value itself rather than a file's name (a
    /// pasted key, URL or secret), or nil. Such a "name" is a secret: messages describe it,
    /// never quote it.
    static func valueInsteadOfFileName(_ name: String) -> String? {
        if name.contains("-----BEGIN") { return "PEM text (a key or certificate itself)" }
        if name.contains(where: \.isNewline) { return "several lines" }
        if name.contains("://") { return "a URL" }
        if name.hasPrefix("whsec_") { return "a signing secret" }
        if name.hasPrefix("Bearer ") || name.hasPrefix("Basic ") { return "a header value" }
        if name.utf8.count > 1024 { return "\(name.utf8.count) bytes, longer than a path" }
        if let at = name.firstIndex(of: "@"), name[..<at].contains(":") { return "a user and password" }
        if name.contains(where: { $0 == " " || $0 == "\t" }) { return "spaces, as a header value or a token would" }
        // A long run of letters and digits of all kinds, without a path's dots or slashes: a
        // token or a key, not a name someone chose.
        let token = name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "+=_-".unicodeScalars.contains($0) }
        if name.count >= 24, token, name.contains(where: \.isUppercase), name.contains(where: \.isLowercase), name.contains(where: \.isNumber) {
            return "what looks like a token or a key"
        }
        return nil
    }

    /// Headers overdued sets itself; a config may not replace them.
    static let reservedHeaders: Set<String> = [
        "content-type", "content-length", "host", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature",
    ]

    /// Headers about the connection or the body's encoding, which the HTTP client manages (a
    /// config value would be dropped, or contradict how the request is sent), and the proxy's
    /// credentials, which would go to the receiver: why each is refused.
    static let connectionHeaders: [String: String] = [
        "connection": "the HTTP client manages the connection", "keep-alive": "the HTTP client manages the connection",
        "proxy-connection": "the HTTP client manages the connection", "te": "the HTTP client manages the connection",
        "trailer": "the HTTP client manages the connection", "upgrade": "the HTTP client manages the connection",
        "transfer-encoding": "the HTTP client frames the body (Content-Length)",
        "expect": "the HTTP client sends the body at once",
        "content-encoding": "the body is sent as plain JSON; the header would mislabel it",
        "proxy-authorization": "it would go to the receiver, not the proxy: give the proxy's user and password in proxy_url (http://user:password@host:port)",
    ]

    private func parseHeaders(_ value: JSONValue?, at path: String, reader: inout ConfigReader, folder: String) -> [DestinationSpec.Header] {
        guard let value else { return [] }
        guard case .object(let members) = value else {
            reader.report(path, "expected an object of header names and values, found \(value.kind)")
            return []
        }
        var headers: [DestinationSpec.Header] = []
        for name in members.keys.sorted() {
            let headerPath = "\(path).\(name)"
            let tokenCharacters = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$%&'*+-.^_`|~"))
            if let invalid = name.unicodeScalars.firstIndex(where: { !($0.isASCII && tokenCharacters.contains($0)) }) {
                // Shown up to that character only: a whole `Authorization: Bearer …` line pasted
                // as the name would otherwise put its token in the message (and the journal).
                let shown = String(name.unicodeScalars[..<invalid])
                let character = name.unicodeScalars[invalid]
                let what = character == ":" ? "\":\"" : character == " " ? "a space" : "\"\(PrintableText.escaped(String(character)))\""
                reader.report("\(path).\(shown)…", "is not a valid HTTP header name: it holds \(what) after \"\(shown)\" (a name has only letters, digits and !#$%&'*+-.^_`|~; a whole `Name: value` line pasted as the name? the rest is not shown, as it may be a secret)")
                continue
            }
            guard !name.isEmpty else {
                reader.report(headerPath, "an empty name is not a valid HTTP header name")
                continue
            }
            guard !Self.reservedHeaders.contains(name.lowercased()) else {
                reader.report(headerPath, "overdued sets \(name) itself; remove it from headers")
                continue
            }
            if let why = Self.connectionHeaders[name.lowercased()] {
                // Not refused: a config that an earlier release loaded must still load (a
                // refused reload, a unit that fails at its next start). Not sent either.
                reader.warn(headerPath, "\(name) is not sent: \(why); remove it from headers")
                continue
            }
            switch members[name]! {
            case .string(let text):
                headers.append(.init(name: name, value: Secret(text)))
                if Self.isCredential(name: name, value: text) { reader.noteInlineSecret(headerPath) }
            case .object(let object):
                _ = reader.object(.object(object), at: headerPath, allowed: ["file"])
                if let file = reader.string(object, "file", at: headerPath, required: true),
                   let text = readSecretFile(file, at: "\(headerPath).file", reader: &reader, folder: folder) {
                    headers.append(.init(name: name, value: Secret(text)))
                }
            case let other:
                reader.report(headerPath, "expected a string or {\"file\": \"path\"}, found \(other.kind)")
            }
        }
        for header in headers {
            // By scalar: "\r\n" is one Character, equal to neither "\r" nor "\n". HTTP allows
            // tab, space and visible characters (RFC 9110 field-value); the value itself is
            // never quoted, it may be a secret.
            guard let bad = header.value.value.unicodeScalars.first(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) else {
                continue
            }
            let what = bad == "\r" || bad == "\n" ? "a line break" : "a control character (U+\(String(format: "%04X", bad.value)))"
            reader.report("\(path).\(header.name)", "the value holds \(what), which HTTP headers cannot carry")
        }
        return headers
    }

    /// Reads a one-line secret (trailing newline removed). Relative names resolve in
    /// `$CREDENTIALS_DIRECTORY` when set, so `LoadCredential=` works without absolute paths.
    private func readSecretFile(_ name: String, at path: String, reader: inout ConfigReader, folder: String) -> String? {
        if let what = Self.valueInsteadOfFileName(name) {
            reader.report(path, "is not a file name: it holds \(what), which is not shown; put the value in a file "
                + "(e.g. a systemd credential) and give the file's name")
            return nil
        }
        let resolved = secretFilePath(name, folder: folder)
        do {
            let text = try Self.readNamedTextFile(resolved).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else {
                reader.report(path, "the file \(resolved) is empty")
                return nil
            }
            if let mode = Self.mode(of: resolved), mode & 0o004 != 0 {
                reader.warn(path, "the secret file \(resolved) is readable by every user (mode \(Self.octal(mode))): chmod o-r it "
                    + "(600, or 640 with the service's group), or load it as a systemd credential (LoadCredential=)")
            }
            Self.warnIfWritableByEveryUser(resolved, at: path, reader: &reader)
            return text
        } catch {
            guard readsSecrets else { return nil }
            // Outside the service, a relative name meant for `LoadCredential=` is looked for
            // beside the config: say how to give it the service's view.
            let hint = environment["CREDENTIALS_DIRECTORY"].map { $0.isEmpty } ?? true && !name.hasPrefix("/") && access(resolved, F_OK) != 0
                ? " (a relative name is read from $CREDENTIALS_DIRECTORY, which is not set: outside the service, "
                    + "set it to the folder the unit's LoadCredential= lines read, e.g. CREDENTIALS_DIRECTORY=/etc/overdued/credentials)"
                : ""
            // A name that may be the secret itself (pasted where its file's name belongs) is not
            // quoted back, into a terminal or the journal: where it was looked for is.
            let base = environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 } ?? folder
            let shown = Self.mayBeSecret(name)
                ? "the file it names (the name is not shown: it looks like a token or a URL rather than a file's name; "
                    + (name.hasPrefix("/") || name.hasPrefix("~") ? "an absolute path)" : "looked for under \(base))")
                : resolved
            reader.report(path, "cannot read \(shown): \(error.reason)\(hint)")
            return nil
        }
    }

    /// Whether a secret file's name that cannot be read may be the secret itself, which
    /// `valueInsteadOfFileName` did not refuse outright: a part of it that looks like a token
    /// (16 or more letters and digits, without a word's separators or with capitals, small
    /// letters and digits mixed; base64's `+` or `=`), a colon (`bearer:…`), or a dotted name
    /// first and a `/` after it (a URL without its scheme). Only decides whether a message
    /// quotes it: a file name taken for one is only not shown.
    static func mayBeSecret(_ name: String) -> Bool {
        if name.contains(":") || name.contains("+") || name.hasSuffix("=") { return true }
        let parts = name.split(separator: "/")
        // A host name first (`ntfy.sh/topic`, `hooks.slack.com/services/…`): a URL without its scheme.
        if !name.hasPrefix("/"), !name.hasPrefix("."), parts.count >= 2, let first = parts.first, first.contains(".") {
            return true
        }
        return parts.contains { part in
            let letters = part.contains(where: \.isLetter), digits = part.contains(where: \.isNumber)
            if part.count >= 16, part.contains(where: \.isUppercase), part.contains(where: \.isLowercase), digits { return true }
            return part.count >= 16 && letters && digits && part.allSatisfy { $0.isLetter || $0.isNumber }
        }
    }

    /// Whether a URL holds what is likely a secret: a user or password, a query parameter
    /// named like a credential (`token`, `key`, `sig`, ...) or valued like one, or a path
    /// segment that looks like a token (a Slack or n8n webhook's key), not a plain path such as
    /// `/hooks/overdue` or `/api/v2/maintenance2024-overdue`.
    static func holdsSecret(_ url: URLComponents) -> Bool {
        if url.percentEncodedUser != nil || url.percentEncodedPassword != nil { return true }
        if let items = url.queryItems, items.contains(where: { isCredential(name: $0.name, value: $0.value ?? "") }) { return true }
        return url.path.split(separator: "/").contains(where: looksLikeToken)
    }

    /// A header or query parameter whose value is likely a credential: by its name (a word of
    /// it such as `authorization`, `token`, `key`, `secret`, `sig`; `X-Idempotency-Key: none`
    /// is too short to be one), or by its value's look.
    static func isCredential(name: String, value: String) -> Bool {
        let words = name.lowercased().split { !$0.isLetter }
        let named = words.contains { ["authorization", "auth", "token", "key", "apikey", "secret", "sig", "signature", "password",
                                      "passwd", "cookie", "code", "credential", "credentials", "bearer"].contains(String($0)) }
        if named, value.count >= 8 { return true }
        return value.split(separator: " ").contains(where: looksLikeToken)
    }

    /// A token rather than a word: 16 or more characters of letters and digits only (a
    /// Slack key, an API token), or a UUID; `maintenance2024-overdue` or `app/2.4.1-build17`
    /// is not one.
    static func looksLikeToken(_ part: Substring) -> Bool {
        let hexAndDashes = part.allSatisfy { $0.isHexDigit || $0 == "-" }
        if part.count == 36, hexAndDashes, part.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12] { return true }
        return part.count >= 16 && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
            && part.contains(where: \.isLetter) && part.contains(where: \.isNumber)
    }

    // MARK: - helpers

    /// Where a secret file is read: `$CREDENTIALS_DIRECTORY` when set, else the config's folder.
    private func secretFilePath(_ name: String, folder: String) -> String {
        let base = environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 } ?? folder
        return Self.absolute(name, relativeTo: base)
    }

    static func absolute(_ path: String, relativeTo folder: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let joined = expanded.hasPrefix("/") ? expanded : (folder as NSString).appendingPathComponent(expanded)
        return (joined as NSString).standardizingPath
    }

    /// Absolute and cleaned as text (`.`, `name/..` and repeated slashes dropped, as Go's
    /// `filepath.Clean` does), with no symbolic link followed: the config file's own path, which every reload
    /// reads again, and the tickets database's, which every tick compares with the file it has
    /// open. A deployment that swaps a link there (an export job's `ln -sfn new tickets.sqlite`,
    /// a `current` link to a versioned config, a Kubernetes ConfigMap's `..data`) must be seen
    /// at the link, not at the file it named when overdued started.
    static func absoluteAsWritten(_ path: String, relativeTo folder: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let joined = expanded.hasPrefix("/") ? expanded : folder + "/" + expanded
        var names: [Substring] = []
        for name in joined.split(separator: "/", omittingEmptySubsequences: true) where name != "." {
            if name == ".." {
                _ = names.popLast()
            } else {
                names.append(name)
            }
        }
        return "/" + names.joined(separator: "/")
    }

    /// `absolute`, except that a symbolic link at the last name is kept, not followed: the
    /// state database's path. Its folder belongs to the service's user, who could put a link
    /// there for root's commands to write through; `StateDatabase` refuses one, and must see it.
    static func absoluteToTheLastName(_ path: String, relativeTo folder: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let joined = expanded.hasPrefix("/") ? expanded : (folder as NSString).appendingPathComponent(expanded)
        let name = (joined as NSString).lastPathComponent
        let parent = absolute((joined as NSString).deletingLastPathComponent, relativeTo: folder)
        return (parent as NSString).appendingPathComponent(name)
    }

    /// Whether both paths name one existing file (links followed).
    static func sameFile(_ first: String, _ second: String) -> Bool {
        var one = stat(), other = stat()
        return stat(first, &one) == 0 && stat(second, &other) == 0 && one.st_dev == other.st_dev && one.st_ino == other.st_ino
    }

    /// The permission bits of a file (links followed), nil when it cannot be looked at.
    static func mode(of path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    static func readableFileProblem(_ path: String, what: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            // "Does not exist" only when it does not: a folder on the way that this user may
            // not search hides a file that exists (the service without the app's group).
            if let hidden = unreachable(path) {
                return "the \(what) \(path) \(hidden); give the user read and search access, e.g. through the app's group"
            }
            return "the \(what) \(path) does not exist"
        }
        if isDirectory.boolValue { return "\(path) is a folder, not a \(what)" }
        if !FileManager.default.isReadableFile(atPath: path) { return "the \(what) \(path) is not readable by this user" }
        return nil
    }

    /// Why a path that `fileExists` does not see may still be there: a folder on its way
    /// that this user may not search ("cannot be reached by this user (uid 1000): …"); nil
    /// when it is really missing.
    public static func unreachable(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) != 0, errno == EACCES else { return nil }
        // The unit's ProtectHome=yes makes these folders unreadable, whatever their modes.
        let hidden = ["/home/", "/root/", "/run/user/"].contains { path.hasPrefix($0) }
            ? " (under the unit, ProtectHome=yes hides /home, /root and /run/user: add ProtectHome=read-only in a drop-in)"
            : ""
        return "cannot be reached by this user (uid \(geteuid())): a folder on its path may not be searched (permission denied)\(hidden)"
    }

    /// The rules of a zone `store.timezone` accepts (and `overdued demo --timezone`, which
    /// writes one): a real IANA name, or an Area/Location name of the system's time-zone
    /// database newer than Foundation's built-in list. Read from the system's files
    /// (`ZoneRules`).
    public static func zoneRules(_ name: String) -> ZoneRules? {
        if ianaZone(name) != nil { return ZoneRules.load(name) }
        guard name.contains("/"), !name.hasPrefix("Etc/"), !name.hasPrefix("SystemV/"),
              let rules = ZoneRules.load(name), case .system = rules.source else { return nil }
        return rules
    }

    /// Only real IANA names (with their daylight-saving rules); "UTC" and "Etc/UTC" included,
    /// as Foundation's built-in data knows them.
    static func ianaZone(_ name: String) -> TimeZone? {
        if name == "UTC" || name == "Etc/UTC" || name == "GMT" { return TimeZone(identifier: "UTC") }
        // An Area/Location name the system resolves under that same name. Foundation's list
        // of names is not consulted for these (building it costs ~1.5 ms at every start) and
        // lacks some current ones anyway (on Linux "Asia/Kolkata", listing "Asia/Calcutta").
        // "Etc/GMT+5" and the like are fixed offsets, refused like "+05:00".
        // ICU also resolves its legacy "SystemV/EST5" and the like (not IANA names; most are
        // fixed offsets), refused too.
        if name.contains("/"), !name.hasPrefix("Etc/"), !name.hasPrefix("SystemV/") {
            guard let zone = TimeZone(identifier: name), zone.identifier == name else { return nil }
            return zone
        }
        return TimeZone.knownTimeZoneIdentifiers.contains(name) ? TimeZone(identifier: name) : nil
    }

    /// Why `store.timezone` refuses `name` (`ianaZone` gave nil), and what to write instead.
    static func zoneRefusal(_ name: String) -> String {
        // The zone database's old names without a place ("CET", "EST5EDT", "Poland", "Japan",
        // "Zulu") are real zones, most with their own rules: refused for their ambiguity, not
        // as offsets, and without a suggestion by spelling ("MET" is not "GMT"). Told apart by
        // the system's zone files ("PST" is one of ICU's own names, not tzdata's); of those, an
        // abbreviation without daylight saving in 2026 ("EST", "MST", "HST") is an offset.
        let january = Date(timeIntervalSince1970: 1_768_435_200), july = Date(timeIntervalSince1970: 1_784_073_600)
        if !name.contains("/"), !name.hasPrefix("."), FileManager.default.fileExists(atPath: "/usr/share/zoneinfo/" + name),
           let zone = TimeZone(identifier: name), zone.identifier == name {
            let abbreviationOf = TimeZone.abbreviationDictionary[name.uppercased()]
            let (winter, summer) = (zone.secondsFromGMT(for: january), zone.secondsFromGMT(for: july))
            if winter != summer || abbreviationOf == nil {
                var message = "\"\(name)\" is an old name of the zone database, without a place; write the Area/Location name of "
                    + "the place, such as \"America/Toronto\""
                if let abbreviationOf {
                    message += "; for \"\(name)\", the zone of a place such as \"\(abbreviationOf)\""
                } else if winter == 0, summer == 0 {
                    message += ", or \"UTC\""
                }
                return message
            }
        }
        return "\"\(name)\" is not an IANA time zone; write a name such as \"America/Toronto\" or \"UTC\" "
            + "(a fixed offset would get daylight saving wrong)" + zoneHint(name)
    }

    /// The end of the message for a name that is not a zone: the place an abbreviation
    /// stands for ("EST" is a fixed UTC-5, the commonest mistake for Eastern time), a city
    /// written without its area or with spaces ("toronto", "New York"), else the closest name.
    static func zoneHint(_ name: String) -> String {
        let known = TimeZone.knownTimeZoneIdentifiers
        if let place = TimeZone.abbreviationDictionary[name.uppercased()] {
            return "; \"\(name)\" is an abbreviation, not a place: write the zone of the place, such as \"\(place)\""
        }
        let city = name.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "_").lowercased()
        let byCity = known.filter { $0.split(separator: "/").last.map { $0.lowercased() == city } ?? false }
        if !byCity.isEmpty, !city.isEmpty {
            return "; did you mean " + byCity.map { "\"\($0)\"" }.joined(separator: " or ") + "?"
        }
        if let guess = Suggestion.closest(to: name, among: known) { return "; did you mean \"\(guess)\"?" }
        return ""
    }

    /// The largest certificate, key, secret or template file the config may name: far above any
    /// (a bundle of every public root certificate is ~220 KB). An 81 MB file took 6.6 s and 350 MB
    /// in `check-config`, and a reload naming a 270 MB one had not ended after minutes.
    public static let largestNamedFile = 4 << 20

    /// Why a file the config names cannot be read, in words.
    struct UnreadableFile: Error {
        var reason: String
    }

    /// The bytes of a file the config names (a certificate, key, secret or template). What is not
    /// a regular file is refused before any read: a FIFO blocks it (a reload would hang), a
    /// device such as /dev/zero never ends it; and so is a file over `largestNamedFile`.
    static func readNamedFile(_ path: String) throws(UnreadableFile) -> Data {
        // One descriptor for the look and the read: a FIFO put in the file's place between the
        // two would block a reload. Non-blocking, so that opening a FIFO does not wait either.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            // ELOOP: "Too many levels of symbolic links" (a loop), where Foundation's read said
            // only "The operation could not be completed".
            throw UnreadableFile(reason: errno == ENOENT ? "no such file" : errno == EISDIR ? "it is a directory, not a file"
                : String(cString: strerror(errno)))
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw UnreadableFile(reason: String(cString: strerror(errno))) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw UnreadableFile(reason: "it is a directory, not a file")
        default: throw UnreadableFile(reason: "it is not a regular file (a FIFO, socket or device)")
        }
        let tooLarge = UnreadableFile(reason: "it is \(info.st_size) bytes, more than the \(largestNamedFile >> 20) MiB a file named in the config may be")
        guard info.st_size <= largestNamedFile else { throw tooLarge }
        do {
            // At most one byte past the limit: a file that grew since the look is refused too.
            let data = try handle.read(upToCount: largestNamedFile + 1) ?? Data()
            guard data.count <= largestNamedFile else { throw tooLarge }
            return data
        } catch let error as UnreadableFile {
            throw error
        } catch {
            throw UnreadableFile(reason: reason(error, reading: path))
        }
    }

    /// `readNamedFile` as UTF-8 text.
    static func readNamedTextFile(_ path: String) throws(UnreadableFile) -> String {
        guard let text = String(data: try readNamedFile(path), encoding: .utf8) else { throw UnreadableFile(reason: "it is not UTF-8 text") }
        return text
    }

    /// Why `path` could not be read: `reason(_:)`, except that a directory is said to be one
    /// (Foundation reports it as "The operation could not be completed", error 256).
    public static func reason(_ error: any Error, reading path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return "it is a directory, not a file"
        }
        return reason(error)
    }

    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        switch nsError.code {
        case NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError: return "permission denied"
        case NSFileReadInapplicableStringEncodingError, NSFileReadCorruptFileError: return "it is not UTF-8 text"
        default: return nsError.localizedDescription
        }
    }

    /// What Foundation's parser says of text that passed `StrictJSON`, with the line and
    /// column when it gives the character offset.
    static func foundationReason(_ data: Data) -> String {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return "it does not parse as a config object"
        } catch {
            let detail = (error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"
            guard let marker = detail.range(of: "character "),
                  let offset = Int(detail[marker.upperBound...].prefix { $0.isNumber }) else { return detail }
            let prefix = data.prefix(offset)
            let line = prefix.filter { $0 == 10 }.count + 1
            let column = offset - (prefix.lastIndex(of: 10).map { $0 + 1 } ?? 0) + 1
            return "line \(line), column \(column): \(detail)"
        }
    }

    /// Where and why the file is not JSON, as "line 3, column 5: ...", or nil.
    static func jsonProblem(_ data: Data) -> String? {
        guard String(data: data, encoding: .utf8) != nil else { return "the file is not UTF-8 text" }
        return StrictJSON.syntaxError(in: [UInt8](data), allowingByteOrderMark: true)?.description
    }
}
