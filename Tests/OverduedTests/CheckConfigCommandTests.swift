import Foundation
import TestCertificates
import Testing
import TestSupport

/// `overdued check-config` through the real binary: every broken config prints its problem
/// with the JSON path and exits 1; a valid one exits 0.
@Suite struct CheckConfigCommandTests {
    struct Broken: CustomTestStringConvertible, Sendable {
        var name: String
        var json: String
        var path: String
        var phrase: String
        var testDescription: String { name }
    }

    static let valid = configJSON()

    static func replacing(_ old: String, _ new: String) -> String {
        valid.replacingOccurrences(of: old, with: new)
    }

    static let broken: [Broken] = [
        Broken(name: "unknown key", json: replacing("\"interval\"", "\"intervall\""), path: "schedule.intervall", phrase: "did you mean \"interval\""),
        Broken(name: "bad duration", json: replacing("\"1s\"", "\"5 minutes\""), path: "schedule.interval", phrase: "not a duration"),
        Broken(name: "duration without unit", json: replacing("\"1s\"", "\"10\""), path: "schedule.interval", phrase: "without a unit"),
        Broken(name: "interval below 1s", json: replacing("\"1s\"", "\"500ms\""), path: "schedule.interval", phrase: "at least"),
        Broken(name: "unknown zone", json: replacing("America/Toronto", "America/Torontoo"), path: "store.timezone", phrase: "did you mean \"America/Toronto\""),
        Broken(name: "fixed offset zone", json: replacing("America/Toronto", "-05:00"), path: "store.timezone", phrase: "not an IANA time zone"),
        Broken(name: "empty status list", json: replacing("[\"received\", \"diagnostic\"]", "[]"), path: "rules[0].match.status_in", phrase: "empty list"),
        Broken(name: "undefined destination", json: replacing("\"destinations\": [\"hook\"]", "\"destinations\": [\"hooks\"]"), path: "rules[0].destinations[0]", phrase: "not defined"),
        Broken(name: "missing tickets database", json: replacing("\"tickets.sqlite\"", "\"missing.sqlite\""), path: "store.tickets_database", phrase: "does not exist"),
        Broken(name: "state folder missing", json: replacing("\"state.sqlite\"", "\"nowhere/state.sqlite\""), path: "store.state_database", phrase: "does not exist"),
        Broken(name: "not an http url", json: replacing("http://127.0.0.1:9/hooks/secret-token", "ftp://example.org/x"), path: "destinations.hook.url", phrase: "http:// or https://"),
        Broken(name: "unreadable url_file", json: replacing("\"url\": \"http://127.0.0.1:9/hooks/secret-token\"", "\"url_file\": \"no-such-file\""), path: "destinations.hook.url_file", phrase: "cannot read"),
        Broken(name: "wrong type", json: replacing("\"assigned\": true", "\"assigned\": \"yes\""), path: "rules[0].match.assigned", phrase: "true or false"),
        Broken(name: "concurrency zero", json: replacing("\"concurrency\": 4", "\"concurrency\": 0"), path: "destinations.hook.concurrency", phrase: "between 1 and"),
        Broken(name: "unknown log level", json: replacing("\"level\": \"info\"", "\"level\": \"verbose\""), path: "log.level", phrase: "not one of"),
        Broken(name: "on_change unknown field", json: replacing("{\"every\": \"24h\"}", "{\"on_change\": [\"assignee\"]}"), path: "rules[0].repeat.on_change[0]", phrase: "not a field"),
        Broken(name: "invalid JSON", json: replacing("\"rules\":", "\"rules\" "), path: "", phrase: "not valid JSON: line"),
        Broken(name: "reserved header", json: replacing("\"timeout\": \"2s\"", "\"timeout\": \"2s\", \"headers\": {\"webhook-id\": \"x\"}"), path: "destinations.hook.headers.webhook-id", phrase: "sets webhook-id itself"),
    ]

    /// Output that cannot be written (a full disk) is an error, said on stderr: a script
    /// saving it learns that its file is cut short.
    @Test func outputItCannotWriteExitsOne() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON())
        let full = ["/bin/sh", "-c", "exec \"$0\" \"$@\" > /dev/full"]
        for arguments in [["check-config", "--config", config], ["--help"]] {
            let result = try runOverdued(arguments, prefix: full)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasSuffix("overdued: cannot write the output: No space left on device\n"), "\(result.stderr)")
        }
        #expect(try runOverdued(["check-config", "--config", config]).status == 0)
    }

    @Test(arguments: broken)
    func brokenConfigIsRefusedWithItsPath(_ case_: Broken) throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", case_.json)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 1)
        let expectedStart = case_.path.isEmpty ? "  - " : "  - \(case_.path): "
        let line = result.stderr.split(separator: "\n").first { $0.hasPrefix(expectedStart) && $0.contains(case_.phrase) }
        #expect(line != nil, "stderr was: \(result.stderr)")
        #expect(result.stderr.hasPrefix(config), "the message names the file")
    }

    @Test func validConfigPassesAndShowsAnIndexedPlan() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("plan: SEARCH t USING COVERING INDEX idx_tickets_status"))
        #expect(result.stdout.contains("plan: SEARCH t USING COVERING INDEX idx_tickets_scheduled"))
        #expect(!result.stdout.contains("plan: SCAN t"))
        #expect(!result.stdout.contains("secret-token"), "the URL path is a secret")
        #expect(result.stdout.contains("http://127.0.0.1:9"))
    }

    /// The app's indexes on `status` and `scheduled_date` dropped (an app upgrade, a restore):
    /// the rules then read the whole table, which `check-config` showed only as `plan: SCAN t`
    /// with exit 0. Still valid, with a warning naming what is missing; the daemon says so at
    /// start too.
    @Test func aTicketsTableWithoutTheAppsIndexesIsWarnedAbout() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        try sqlite3(folder.url("tickets.sqlite"), "DROP INDEX idx_tickets_status; DROP INDEX idx_tickets_scheduled;")
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("warning: store.tickets_database: the tickets table has no index on status or scheduled_date: each rule reads the whole table at every tick after an app write; overdued never writes to this database: the app's schema has it (CREATE INDEX idx_tickets_status ON tickets(status); CREATE INDEX idx_tickets_scheduled ON tickets(scheduled_date))"),
                "\(result.stderr)")
        let daemon = try DaemonChild(config: config, environment: [:])
        #expect(daemon.waitFor("the tickets table has no index on status or scheduled_date"), "log: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 10) == 0)
        try makeTicketsDatabase(at: folder.url("indexed.sqlite"), rows: [])
        let indexed = try runOverdued(["check-config", "--config", try folder.write("indexed.json", Self.valid.replacingOccurrences(of: "tickets.sqlite", with: "indexed.sqlite"))])
        #expect(!indexed.stderr.contains("no index"), "\(indexed.stderr)")
    }

    /// A certificate authority that expired on 2020-01-31 (made with `openssl req -x509` under
    /// libfaketime): valid PEM, so the config is valid, with a warning.
    static let expiredAuthority = """
        -----BEGIN CERTIFICATE-----
        MIIBhTCCASugAwIBAgIUDsALRrQy7d1rPooFK25u/aIl5yAwCgYIKoZIzj0EAwIw
        GDEWMBQGA1UEAwwNT2xkIGF1dGhvcml0eTAeFw0yMDAxMDEwMDAwMDBaFw0yMDAx
        MzEwMDAwMDBaMBgxFjAUBgNVBAMMDU9sZCBhdXRob3JpdHkwWTATBgcqhkjOPQIB
        BggqhkjOPQMBBwNCAARtlklx9JOlq1fOXd+NbSlqnhKLCgCra7CPs5H3duImv0Rp
        uee/wUE2I/x/Va9Z60cvV2jb5+GYht0Pn9AGvLDIo1MwUTAdBgNVHQ4EFgQUNOkK
        8jnxHG1hfEBz0vQdL3wG4QAwHwYDVR0jBBgwFoAUNOkK8jnxHG1hfEBz0vQdL3wG
        4QAwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBK3AI0+TuDm+Td
        Z1MG5PnhpTyuSxF6sTL1fR7q/G7RlgIhALnSYGMZviyPt4uKxx7UU6nYIOblmjfO
        1ruSVaAeGZJP
        -----END CERTIFICATE-----

        """

    /// The executable checks `tls` files as a reload would: a file that holds no certificate
    /// is refused, an expired authority is a warning, and the destination line says whom it
    /// trusts.
    @Test func destinationTLSFilesAreChecked() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let json = configJSON(destinationURL: "https://127.0.0.1:9/hooks/secret-token", destinationExtra: ", \"tls\": {\"ca_file\": \"ca.pem\"}")
        let config = try folder.write("config.json", json)

        _ = try folder.write("ca.pem", "not a certificate\n")
        let refused = try runOverdued(["check-config", "--config", config])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("  - destinations.hook.tls.ca_file: \(folder.url("ca.pem")) holds no PEM certificate"), "\(refused.stderr)")

        _ = try folder.write("ca.pem", Self.expiredAuthority)
        let warned = try runOverdued(["check-config", "--config", config])
        #expect(warned.status == 0, "stderr: \(warned.stderr)")
        #expect(warned.stdout.contains("trusting only \(folder.url("ca.pem"))"), "\(warned.stdout)")
        #expect(warned.stderr.contains("warning: destinations.hook.tls.ca_file: the certificate (Old authority) in \(folder.url("ca.pem")) expired on 2020-01-31T00:00:00Z"),
                "\(warned.stderr)")
    }

    /// A secret pasted where its file's name belongs (a key, a URL, a signing secret) is
    /// described, never echoed: the message goes to the journal on a refused reload.
    @Test func aSecretWrittenInPlaceOfItsFileNameIsNotEchoed() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let key = "-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\\n-----END PRIVATE KEY-----"
        let json = configJSON(destinationURL: "https://127.0.0.1:9/hooks/secret-token")
            .replacingOccurrences(of: "\"url\": \"https://127.0.0.1:9/hooks/secret-token\"",
                                  with: "\"url_file\": \"https://hooks.example.com/services/T0/B0/PASTEDTOKEN\", "
                                      + "\"signing_secret_file\": \"whsec_PASTEDSIGNINGSECRET\", "
                                      + "\"tls\": {\"certificate_file\": \"client.pem\", \"private_key_file\": \"\(key)\"}")
        let result = try runOverdued(["check-config", "--config", try folder.write("config.json", json)])
        #expect(result.status == 1)
        for secret in ["PASTEDTOKEN", "PASTEDSIGNINGSECRET", "SECRETSECRET", "MIGHAgEA"] {
            #expect(!result.stderr.contains(secret), "\(result.stderr)")
        }
        #expect(result.stderr.contains("  - destinations.hook.url_file: is not a file name: it holds a URL, which is not shown"), "\(result.stderr)")
        #expect(result.stderr.contains("  - destinations.hook.signing_secret_file: is not a file name: it holds a signing secret"), "\(result.stderr)")
        #expect(result.stderr.contains("  - destinations.hook.tls.private_key_file: is not a file name: it holds PEM text"), "\(result.stderr)")
    }

    /// Through a proxy, every destination is a CONNECT tunnel; many proxies allow port 443 only.
    @Test func aProxiedDestinationOnAnotherPortThan443IsWarnedAbout() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(destinationExtra: ", \"proxy_url\": \"http://robot:pw@127.0.0.1:3128\""))
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("through the proxy http://127.0.0.1:3128"), "\(result.stdout)")
        #expect(result.stderr.contains("warning: destinations.hook.proxy_url: requests go through the proxy in a CONNECT tunnel to port 9; "),
                "\(result.stderr)")
        #expect(!result.stdout.contains("pw@") && !result.stderr.contains("pw@"))
    }

    /// The zone is named as the config writes it: Foundation on Linux calls UTC "GMT".
    @Test(arguments: [("UTC", "UTC"), (nil, "UTC"), ("GMT", "GMT"), ("Etc/UTC", "Etc/UTC"),
                      ("America/Toronto", "America/Toronto, rules from /usr/share/zoneinfo/America/Toronto (tzdata ")])
    func theZoneIsNamedAsConfigured(_ written: String?, _ shown: String) throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let json = written.map { Self.replacing("\"America/Toronto\"", "\"\($0)\"") }
            ?? Self.replacing("\"timezone\": \"America/Toronto\", ", "")
        let config = try folder.write("config.json", json)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("(read-only, zone \(shown)" + (shown.hasSuffix("(tzdata ") ? "" : ")\n")), "\(result.stdout)")
    }

    /// A tickets database without a column that overdued's queries read is invalid, each
    /// missing column named with the file, rather than found out by every tick ("no such
    /// column: t.priority").
    @Test func aTicketsDatabaseWithoutAColumnThatIsReadIsInvalid() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: [TicketRow(id: 1, ticketID: "IGP-2026-0001", scheduledDate: "2026-11-20 08:00:00")])
        try sqlite3(tickets, "ALTER TABLE tickets DROP COLUMN priority; ALTER TABLE machines DROP COLUMN location; ALTER TABLE users DROP COLUMN full_name;")
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 1, "stdout: \(result.stdout)")
        let line = result.stderr.split(separator: "\n").first { $0.hasPrefix("  - store.tickets_database: ") }
        for column in ["tickets.priority", "machines.location", "users.full_name", tickets] {
            #expect(line?.contains(column) == true, "stderr: \(result.stderr)")
        }
    }

    /// Before the service's first start, its state folder (`StateDirectory=`) does not exist:
    /// the install's check-config warns, and passes.
    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/var/lib/overdued"), "/var/lib/overdued exists here"))
    func theServicesStateFolderMissingBeforeItsFirstStartIsAWarning() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let json = Self.valid.replacingOccurrences(of: "\"state_database\": \"state.sqlite\", ", with: "")
        #expect(!json.contains("state_database"))
        let config = try folder.write("config.json", json)
        let result = try runOverdued(["check-config", "--config", config], environment: ["STATE_DIRECTORY": ""])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: store.state_database: the folder /var/lib/overdued does not exist yet"), "\(result.stderr)")
        // Another folder that does not exist is a problem, as before.
        let elsewhere = try folder.write("elsewhere.json", Self.valid.replacingOccurrences(of: "\"state.sqlite\"", with: "\"missing/state.sqlite\""))
        let refused = try runOverdued(["check-config", "--config", elsewhere])
        #expect(refused.status == 1 && refused.stderr.contains("does not exist; create it"), "\(refused.stderr)")
    }

    /// The service without the app's group: the database exists, behind a folder it may not
    /// search. Said as such, not "does not exist".
    @Test(.enabled(if: getuid() == 0 && Unprivileged.prefix != nil, "needs root and setpriv"))
    func aTicketsDatabaseBehindAFolderTheUserMayNotSearchIsNotCalledMissing() throws {
        let folder = try TemporaryDirectory()
        let app = folder.url("app")
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try makeTicketsDatabase(at: app + "/tickets.sqlite", rows: [])
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.path)
        let config = try folder.write("config.json", configJSON(tickets: "app/tickets.sqlite"))
        let result = try runOverdued(["check-config", "--config", config], prefix: Unprivileged.prefix ?? [])
        #expect(result.status == 1)
        #expect(result.stderr.contains("tickets.sqlite cannot be reached by this user (uid 65534): a folder on its path may not be searched"),
                "\(result.stderr)")
        #expect(!result.stderr.contains("does not exist"), "\(result.stderr)")
        #expect(!result.stderr.contains("ProtectHome"), "not under /home: \(result.stderr)")
    }

    /// Under /home, the unit's ProtectHome=yes is the likelier cause than the folders' modes
    /// (operator walkthrough: the message sent them to the app's group).
    @Test(.enabled(if: getuid() == 0 && Unprivileged.prefix != nil, "needs root and setpriv"))
    func aTicketsDatabaseUnderHomeThatCannotBeReachedNamesProtectHome() throws {
        let home = "/home/overdued-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: home) }
        try makeTicketsDatabase(at: home + "/tickets.sqlite", rows: [])
        let folder = try TemporaryDirectory()
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.path)
        let config = try folder.write("config.json", configJSON(tickets: home + "/tickets.sqlite"))
        let result = try runOverdued(["check-config", "--config", config], prefix: Unprivileged.prefix ?? [])
        #expect(result.status == 1)
        #expect(result.stderr.contains("a folder on its path may not be searched (permission denied) (under the unit, ProtectHome=yes hides /home, /root and /run/user: add ProtectHome=read-only in a drop-in)"),
                "\(result.stderr)")
    }

    /// The same at the daemon's start (it checks no file at load, to start while the file is
    /// missing): "cannot be reached", not "does not exist", and for the state database's
    /// folder too (the service's own under DynamicUser=, for an operator who is not root).
    @Test(.enabled(if: getuid() == 0 && Unprivileged.prefix != nil, "needs root and setpriv"))
    func theDaemonAndHistoryBehindAFolderTheUserMayNotSearchSaySo() throws {
        let folder = try TemporaryDirectory()
        let app = folder.url("app")
        let service = folder.url("service")
        for hidden in [app, service] {
            try FileManager.default.createDirectory(atPath: hidden, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
        try makeTicketsDatabase(at: app + "/tickets.sqlite", rows: [])
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.path)
        let config = try folder.write("config.json", configJSON(tickets: "app/tickets.sqlite"))
        let run = try runOverdued(["run", "--config", config], prefix: Unprivileged.prefix ?? [], timeout: 30)
        #expect(run.status == 1)
        #expect(run.stderr.contains("the tickets database cannot be reached by this user (uid 65534)"), "\(run.stderr)")
        #expect(!run.stderr.contains("does not exist"), "\(run.stderr)")

        // The folder itself, or one behind it (/var/lib/overdued → /var/lib/private/overdued).
        try FileManager.default.createDirectory(atPath: service + "/overdued", withIntermediateDirectories: false)
        for state in ["service/state.sqlite", "service/overdued/state.sqlite"] {
            let history = try folder.write("history.json", configJSON(state: state))
            let listed = try runOverdued(["history", "--config", history], prefix: Unprivileged.prefix ?? [])
            #expect(listed.status == 1)
            #expect(listed.stderr.contains("store.state_database: \(folder.url(state)) cannot be reached by this user (uid 65534)"), "\(listed.stderr)")
            #expect(!listed.stderr.contains("does not exist") && !listed.stdout.contains("no state database yet"), "\(listed.stdout)\(listed.stderr)")
        }
    }

    /// A state database on a read-only mount (under the unit's ProtectSystem=strict, any path
    /// outside StateDirectory= and ReadWritePaths=) is said to be so, not "not writable by this
    /// user … chown", which no chown fixes. Needs a tmpfs mount (root, outside most containers).
    @Test(.enabled(if: Tmpfs.available, "needs root and the right to mount a tmpfs"))
    func aStateDatabaseOnAReadOnlyFileSystemIsSaidToBeOne() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let mounted = folder.url("ro")
        #expect(try mountTmpfs(at: mounted))
        defer { _ = umount(mounted) }
        let config = try folder.write("config.json", configJSON(state: "ro/state.sqlite"))
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        #expect(try mount(["-o", "remount,ro", mounted]))
        for command in [["check-config"], ["run"]] {
            let result = try runOverdued(command + ["--config", config], timeout: 30)
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.contains("state.sqlite is on a read-only file system"), "\(command): \(result.stderr)")
            #expect(!result.stderr.contains("chown"), "\(command): \(result.stderr)")
        }
    }

    /// A full disk where the state database lives, after a clean stop (no -wal or -shm):
    /// SQLite cannot size a new -shm and says "disk I/O error"; the message says the disk is
    /// full, which is what the operator acts on.
    @Test(.enabled(if: Tmpfs.available, "needs root and the right to mount a tmpfs"))
    func aFullDiskIsSaidToBeFull() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let mounted = folder.url("small")
        #expect(try mountTmpfs(at: mounted, size: "512k"))
        defer { _ = umount(mounted) }
        let config = try folder.write("config.json", configJSON(state: "small/state.sqlite"))
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: mounted + "/state.sqlite-wal"), "a clean close")
        _ = try fillFileSystem(at: mounted)
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.status == 1)
        #expect(queue.stderr.contains("the file system holding it is full (no space left); free some"), "\(queue.stderr)")
    }

    /// No inode left (space left): SQLite cannot create the -wal and says only "unable to open
    /// database file"; the message says why.
    @Test(.enabled(if: Tmpfs.available, "needs root and the right to mount a tmpfs"))
    func noInodeLeftIsSaidToBeSo() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: ScanCommandTests.rows)
        let mounted = folder.url("small")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        #expect(try mount(["-t", "tmpfs", "-o", "size=1m,nr_inodes=16", "tmpfs", mounted]))
        defer { _ = umount(mounted) }
        let config = try folder.write("config.json", configJSON(state: "small/state.sqlite"))
        #expect(try runOverdued(["scan", "--config", config]).status == 0)
        var made = 0
        while FileManager.default.createFile(atPath: mounted + "/filler-\(made)", contents: nil), made < 100 { made += 1 }
        let queue = try runOverdued(["queue", "--config", config])
        #expect(queue.status == 1)
        #expect(queue.stderr.contains("the file system holding it is out of inodes (no file can be created, though space is left)"),
                "\(queue.stderr)")
        // No lock file yet (`scan` makes none): the lock's message says why too, not only "No
        // space left on device" beside a file system with space left.
        #expect(!FileManager.default.fileExists(atPath: mounted + "/state.sqlite.lock"))
        let once = try runOverdued(["once", "--config", config, "--max-wait", "1s"])
        #expect(once.status == 1)
        #expect(once.stderr.contains("state.sqlite.lock: the file system holding it is out of inodes (no file can be created, though space is left); free some"),
                "\(once.stderr)")
    }

    /// Before the service's first start its state folder is not there yet: `history` and
    /// `queue` say there is no state database yet (exit 0), as documented, not "create it".
    @Test func historyAndQueueBeforeTheStateFolderExistsSayThereIsNoStateDatabaseYet() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", configJSON(state: "not-yet/state.sqlite"))
        for command in [["history"], ["queue"], ["queue", "--json"]] {
            let result = try runOverdued(command + ["--config", config])
            #expect(result.status == 0, "\(command): \(result.stderr)")
            if command.contains("--json") {
                #expect(result.stdout == "[]\n" && result.stderr.contains("no state database yet"), "\(command): \(result.stdout) \(result.stderr)")
            } else {
                #expect(result.stdout.contains("no state database yet"), "\(command): \(result.stdout) \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: folder.url("not-yet")))
        }
    }

    /// The app keeps its WAL database open, but its -wal and -shm files are the app's alone
    /// (0600): SQLite says only "unable to open database file"; the message names the file.
    @Test(.enabled(if: getuid() == 0 && Unprivileged.prefix != nil, "needs root and setpriv"))
    func anUnreadableWALFileIsNamed() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: [])
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.path)
        // The app: a connection holding the database open in WAL mode, its files made 0600.
        let app = Process()
        app.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        app.arguments = ["-c", """
            import os, sqlite3, time
            db = sqlite3.connect(\(String(reflecting: tickets)), isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL"); db.execute("UPDATE tickets SET title = title")
            for f in ("-wal", "-shm"): os.chmod(\(String(reflecting: tickets)) + f, 0o600)
            os.chmod(\(String(reflecting: tickets)), 0o644)
            print("open", flush=True); time.sleep(30)
            """]
        let out = Pipe()
        app.standardOutput = out
        try app.run()
        defer { kill(app.processIdentifier, SIGKILL); app.waitUntilExit() }
        let ready = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        try #require(ready.hasPrefix("open"), "the app did not start: \(ready)")
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config", "--config", config], prefix: Unprivileged.prefix ?? [])
        #expect(result.status == 1)
        #expect(result.stderr.contains("tickets.sqlite-wal is not readable by this user (owned by uid 0"), "\(result.stderr)")
    }

    /// A rollback-journal database whose app crashed in the middle of a write: SQLite must roll
    /// the write back before anyone reads, which a read-only reader may not do. Its own words,
    /// "attempt to write a readonly database", suggested that overdued writes.
    @Test func aHotJournalIsNamedAsTheAppsInterruptedWrite() throws {
        let folder = try TemporaryDirectory()
        let tickets = folder.url("tickets.sqlite")
        try makeTicketsDatabase(at: tickets, rows: overdueRows(200))
        try sqlite3(tickets, "PRAGMA journal_mode = DELETE;")
        // The app: a write begun, larger than its page cache (so pages already went to the file),
        // then the process gone without COMMIT or ROLLBACK.
        let crash = Process()
        crash.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        crash.arguments = ["-c", """
            import os, sqlite3
            db = sqlite3.connect(\(String(reflecting: tickets)), isolation_level=None)
            db.execute("PRAGMA cache_size = 1")
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE tickets SET title = hex(randomblob(3000))")
            os._exit(0)
            """]
        try crash.run()
        crash.waitUntilExit()
        #expect(crash.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: tickets + "-journal"), "no hot journal left")
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 1, "stdout: \(result.stdout)")
        #expect(result.stderr.contains("a write of the app was interrupted (\(tickets)-journal"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("attempt to write a readonly database"), "stderr: \(result.stderr)")
    }

    /// A WAL-mode database in a folder overdued may not write to, without its -wal and -shm
    /// files (the app has it closed): SQLite refuses the read as "attempt to write a readonly
    /// database", which would suggest that overdued writes; the message says what is needed.
    @Test(.enabled(if: Unprivileged.prefix != nil, "needs setpriv (as root) or a non-root user"))
    func aWALDatabaseThatCannotBeReadWithoutWriteAccessIsExplained() throws {
        let folder = try TemporaryDirectory()
        let app = folder.url("app")
        let tickets = app + "/tickets.sqlite"
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
        try makeTicketsDatabase(at: tickets, rows: [])
        try sqlite3(tickets, "PRAGMA journal_mode = WAL;")
        #expect(try folder.fileNames().contains("app") && FileManager.default.contentsOfDirectory(atPath: app) == ["tickets.sqlite"])
        // The state database's folder stays writable: only the tickets folder is at stake.
        try FileManager.default.createDirectory(atPath: folder.url("state"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o777])
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.url("state"))
        let config = try folder.write("config.json", configJSON(tickets: "app/tickets.sqlite", state: "state/state.sqlite"))
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: app)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: app) }

        // The app has it closed (no -wal, no -shm): read as it stands, nothing created.
        let closed = try runOverdued(["check-config", "--config", config], prefix: Unprivileged.prefix ?? [])
        #expect(closed.status == 0, "stderr: \(closed.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: app) == ["tickets.sqlite"])

        // A -shm without its -wal (left by an app that stopped abruptly, say): SQLite needs
        // the -wal too, and may not create it. Refused, and explained as what it is.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: app)
        _ = FileManager.default.createFile(atPath: tickets + "-shm", contents: nil, attributes: [.posixPermissions: 0o644])
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: app)
        let result = try runOverdued(["check-config", "--config", config], prefix: Unprivileged.prefix ?? [])
        #expect(result.status == 1)
        let line = try #require(result.stderr.split(separator: "\n").first { $0.hasPrefix("  - store.tickets_database: ") },
                                "stderr: \(result.stderr)")
        for phrase in ["WAL", "-shm", "docs/systemd.md", app] {
            #expect(line.contains(phrase), "\(line)")
        }
        #expect(!line.contains("attempt to write"), "\(line)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: app).sorted() == ["tickets.sqlite", "tickets.sqlite-shm"])
    }

    @Test(arguments: [
        ("{\"text\": \"{{#title}}\"}", "cannot be parsed"),
        ("Ticket {{ticket_id}} is late", "JSON"),
    ])
    func aTemplateThatCannotRenderJSONIsRefused(template: String, phrase: String) throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        try folder.write("broken.mustache", template)
        let config = try folder.write("config.json", configJSON(destinationExtra: ", \"format\": {\"template\": \"broken.mustache\"}"))
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("destinations.hook.format.template: "), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(phrase), "stderr: \(result.stderr)")
    }

    @Test func theShippedTemplatesPass() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        for name in ["slack.mustache", "ntfy.mustache"] {
            let template = examples.appendingPathComponent(name).path
            let config = try folder.write("config.json", configJSON(destinationExtra: ", \"format\": {\"template\": \"\(template)\"}"))
            let result = try runOverdued(["check-config", "--config", config])
            #expect(result.status == 0, "\(name): \(result.stderr)")
        }
    }

    /// config.example.json documents every key: it must load as is, given its files.
    @Test func theExampleConfigIsValid() throws {
        let folder = try TemporaryDirectory()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        var text = try String(contentsOf: root.appendingPathComponent("config.example.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "/var/lib/maintenance/tickets.sqlite", with: folder.url("tickets.sqlite"))
            .replacingOccurrences(of: "/var/lib/overdued/state.sqlite", with: folder.url("state.sqlite"))
            .replacingOccurrences(of: "/etc/overdued/templates/", with: root.appendingPathComponent("examples").path + "/")
            .replacingOccurrences(of: "/etc/overdued/", with: folder.path + "/")
        let config = try folder.write("config.json", text)
        let credentials = folder.url("credentials")
        let authority = try TestAuthority(name: "Plant 4 authority", validFor: 365)
        let client = try authority.client(validFor: 365)
        try folder.write("plant-ca.pem", authority.certificatePEM)
        try folder.write("overdued-client.pem", client.certificatePEM)
        try folder.write("credentials/overdued-client-key", client.keyPEM)
        try folder.write("credentials/automation-url", "https://automation.example.org/hooks/abc123\n")
        try folder.write("credentials/webhook-signing-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
        try folder.write("credentials/slack-webhook-url", "https://hooks.slack.com/services/T000/B000/xoxbsecret\n")
        try folder.write("credentials/ntfy-token", "Bearer tk_xoxbsecret\n")
        let result = try runOverdued(["check-config", "--config", config], environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("abc123") && !result.stdout.contains("xoxb"), "no secret in the output")
    }

    /// Every secret file config.example.json names by a relative name (read from
    /// `$CREDENTIALS_DIRECTORY` under systemd) is in the documented drop-ins and creation
    /// steps: an operator following them gets a service that starts.
    @Test func everySecretOfTheExampleConfigIsInTheDocumentedDropIns() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try Data(contentsOf: root.appendingPathComponent("config.example.json"))
        var names: [String] = []
        func collect(_ value: Any, key: String?) {
            if let object = value as? [String: Any] {
                for (member, inner) in object { collect(inner, key: member) }
            } else if let text = value as? String, let key, key == "file" || key.hasSuffix("_file"), !text.hasPrefix("/") {
                names.append(text)
            }
        }
        collect(try JSONSerialization.jsonObject(with: example), key: nil)
        #expect(names.count >= 4, "\(names)")
        let secretsReadme = try String(contentsOf: root.appendingPathComponent("examples/secrets/README.md"), encoding: .utf8)
        let configuration = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for name in names {
            let credential = "LoadCredential=\(name):/etc/overdued/credentials/\(name)"
            #expect(secretsReadme.contains(credential), "examples/secrets/README.md lacks \(credential)")
            #expect(configuration.contains(credential), "docs/configuration.md lacks \(credential)")
            #expect(secretsReadme.contains("| `\(name)` |"), "examples/secrets/README.md's table lacks \(name)")
        }
    }

    @Test func configPathFallsBackToTheEnvironment() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [])
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config"], environment: ["OVERDUED_CONFIG": config])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("\(config): valid"))
    }

    /// Tickets whose status differs from a listed one only in case or spaces are never
    /// selected; the config is valid (exit 0) and a warning on stderr says so.
    @Test func aListedStatusTheTicketsSpellDifferentlyIsWarnedAbout() throws {
        let folder = try TemporaryDirectory()
        try makeTicketsDatabase(at: folder.url("tickets.sqlite"), rows: [
            TicketRow(id: 1, ticketID: "IGP-2026-0001", status: "received", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 2, ticketID: "IGP-2026-0002", status: "Received ", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 3, ticketID: "IGP-2026-0003", status: "Received ", scheduledDate: "2026-11-20 08:00:00"),
            TicketRow(id: 4, ticketID: "IGP-2026-0004", status: "diagnostic", scheduledDate: "2026-11-20 08:00:00"),
        ])
        let config = try folder.write("config.json", Self.valid)
        let result = try runOverdued(["check-config", "--config", config])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("\(config): valid"))
        #expect(result.stderr == "warning: rules[0].match.status_in[0]: \"received\" does not match the 2 tickets whose status is \"Received \": "
            + "statuses are compared exactly, and these differ in case, surrounding spaces or how an accent is encoded\n")
    }
}
