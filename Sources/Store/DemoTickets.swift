public import Foundation
public import TimeZoneRules
internal import GRDB

/// Writes a realistic tickets database in the app's schema: French titles, every status
/// (and a custom Kanban one), the whole-team assignee 0, unassigned and soft-deleted rows,
/// both ticket-id formats and every garbage date form seen in production. About 1 % of the
/// tickets are overdue by the old rule. Deterministic for a given seed, so it is also the
/// benchmark data generator.
///
/// Rows are placed at random, so a small database could miss a rare form (a status, a
/// garbage or unusual date, an assignee form): whatever such a form still lacks at the end is
/// given to one of the first closed or future-dated tickets (at most eighteen are needed: a
/// database of a few dozen tickets has them). Those tickets were not overdue and stay so; a
/// large database has every form already and is left as drawn.
public struct DemoTickets: Sendable {
    public var ticketCount: Int
    public var now: Date
    public var timeZone: ZoneRules
    public var seed: UInt64

    public init(ticketCount: Int, now: Date, timeZone: ZoneRules, seed: UInt64 = 42) {
        self.ticketCount = ticketCount
        self.now = now
        self.timeZone = timeZone
        self.seed = seed
    }

    /// What was written, for the command's summary and for tests.
    public struct Summary: Sendable, Equatable {
        public var tickets = 0
        /// Rows the old rule selects (assigned, received/diagnostic, past date, not deleted).
        public var overdueByOldRule = 0
        /// Rows whose scheduled_date cannot be read (each should give one warning).
        public var unreadableDates = 0
        public var softDeleted = 0
        public var machines = 0
        public var users = 0
    }

    static let titles = [
        "Fuite d'huile sur le vérin principal", "Bruit anormal au démarrage", "Remplacement des courroies",
        "Capteur de température défectueux", "Porte du four bloquée 🔥", "Étalonnage de la presse",
        "Vibration excessive du moteur", "Changement du filtre à air", "Arrêt d'urgence inopérant",
        "Fuite d'eau au refroidisseur", "Usure des mâchoires", "Révision annuelle préventive",
        "Écran de contrôle figé", "Pression hydraulique instable", "Graissage des roulements ⚙️",
    ]
    static let machineTypes = [("Four", "FT-2000"), ("Presse", "PH-450"), ("Compresseur", "CA-75"),
                                ("Polisseuse", "PL-9"), ("Découpe laser", "LX-3"), ("Trempe", nil)]
    static let firstNames = ["Marie", "Jean", "Sophie", "Luc", "Chloé", "Éric", "Amélie", "François",
                             "Hélène", "Mathieu", "Noémie", "Benoît", "Zoé", "Rémi", "Joëlle", "Yves"]
    static let lastNames = ["Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie",
                            "Fortin", "Gagné", "Ouellet", "Pelletier", "Bélanger", "Lévesque"]
    static let roles = ["admin", "director", "supervisor", "coordinator", "planner", "senior_technician", "technician",
                        "team_leader", "furnace_operator", "operator", "safety_officer", "quality_inspector",
                        "storekeeper", "viewer"]
    /// Every garbage form of scheduled_date seen in the app's data. The first three mean "no
    /// date"; the rest are unreadable.
    public static let garbageDates: [String?] = [nil, "", "null", "demain", "2026-02-30 10:00:00", "24/11/2026"]
    /// The app's statuses, with the custom Kanban one (`private`); the old rule's two first.
    static let openStatuses = ["received", "diagnostic", "in_progress", "waiting_parts", "private"]
    static let closedStatuses = ["completed", "archived"]

    public func write(to path: String) throws(StoreError) -> Summary {
        if FileManager.default.fileExists(atPath: path) {
            throw StoreError(.other, path: path, message: "already exists; overdued demo never overwrites a database (choose another --dir or remove it)")
        }
        do {
            var configuration = Configuration()
            configuration.label = "demo"
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = OFF")
                var summary = Summary()
                try db.inTransaction {
                    for statement in AppSchema.statements { try db.execute(sql: statement) }
                    try writeUsers(db, &summary)
                    try writeMachines(db, &summary)
                    try writeTickets(db, &summary)
                    for statement in AppSchema.indexes { try db.execute(sql: statement) }
                    // Stats let SQLite pick the status index, as on a long-running app database.
                    try db.execute(sql: "ANALYZE")
                    return .commit
                }
                return summary
            }
        } catch {
            throw StoreError.from(error, path: path, doing: "write the demo database")
        }
    }

    private func writeUsers(_ db: Database, _ summary: inout Summary) throws {
        try db.execute(sql: "INSERT INTO users (id, email, password_hash, full_name, role) VALUES (0, 'equipe@example.invalid', '!', '👥 Toute l''équipe', 'viewer')")
        var random = SplitMix64(seed: seed)
        for id in 1...40 {
            let first = Self.firstNames[random.below(Self.firstNames.count)]
            let last = Self.lastNames[random.below(Self.lastNames.count)]
            try db.execute(sql: """
                INSERT INTO users (id, email, password_hash, full_name, role, first_name, last_name) VALUES (?, ?, '!', ?, ?, ?, ?)
                """, arguments: [id, "user\(id)@example.invalid", "\(first) \(last)", Self.roles[id % Self.roles.count], first, last])
        }
        // Not CURRENT_TIMESTAMP: the same seed must write the same file.
        try db.execute(sql: "UPDATE users SET created_at = ?1, updated_at = ?1", arguments: [Self.utcText(now)])
        summary.users = 41
    }

    private func writeMachines(_ db: Database, _ summary: inout Summary) throws {
        for id in 1...60 {
            let (type, model) = Self.machineTypes[id % Self.machineTypes.count]
            try db.execute(sql: "INSERT INTO machines (id, machine_type, model, serial_number, location) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, type, model, "SN-\(10_000 + id)", "Atelier \(1 + id % 4)"])
        }
        try db.execute(sql: "UPDATE machines SET created_at = ?1, updated_at = ?1", arguments: [Self.utcText(now)])
        summary.machines = 60
    }

    private func writeTickets(_ db: Database, _ summary: inout Summary) throws {
        var random = SplitMix64(seed: seed &+ 1)
        let insert = try db.makeStatement(sql: """
            INSERT INTO tickets (id, ticket_id, title, description, machine_id, status, priority, reported_by, assigned_to,
                                 created_at, updated_at, reporter_name, assignee_name, scheduled_date, is_machine_down, deleted_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)
            """)
        let closed = Self.closedStatuses
        let open = Self.openStatuses
        let priorities = ["low", "medium", "high", "critical"]
        let day = 86_400.0
        var seen = DirtyForms()
        /// Tickets no dirty form can make overdue by the old rule: closed, or scheduled later.
        var spare: [SpareTicket] = []
        // Exactly 1 % overdue (rounded, at least one): a demo of 100 tickets shows one, and
        // the 1M of the benchmarks 10,000. Spread evenly: the id where the share steps up.
        let count = max(ticketCount, 1)
        let overdueCount = max(1, (count + 50) / 100)
        for id in 1...count {
            let isOverdueSlot = (id - 1) * overdueCount / count != id * overdueCount / count
            let roll = isOverdueSlot ? 0 : 0.01 + random.unit() * 0.99
            var status: String
            var assignedTo: Int64? = Int64(1 + random.below(40))
            var scheduled: Date? = now.addingTimeInterval(-random.unit() * 400 * day)
            var scheduledText: String?
            var deletedAt: String?
            var overdue = false
            var spareKind: SpareTicket.Kind?
            switch roll {
            case ..<0.01:
                // Overdue by the old rule: assigned (a tenth to the whole team), open, past date.
                status = random.unit() < 0.5 ? "received" : "diagnostic"
                if random.below(10) == 0 { assignedTo = 0 }
                scheduled = now.addingTimeInterval(-(3600 + random.unit() * 20 * day))
                overdue = true
            case ..<0.012:
                // Open and late but unassigned: the old rule ignores them.
                status = "received"
                assignedTo = nil
            case ..<0.013:
                // Late but soft-deleted.
                status = "diagnostic"
                deletedAt = Self.utcText(now.addingTimeInterval(-day))
                summary.softDeleted += 1
            case ..<0.0135:
                // Garbage dates on open, assigned tickets.
                status = "received"
                let garbage = Self.garbageDates[random.below(Self.garbageDates.count)]
                scheduled = nil
                scheduledText = garbage
                if DirtyForms.isUnreadable(garbage) { summary.unreadableDates += 1 }
            case ..<0.10:
                // Open, scheduled in the future.
                status = open[random.below(open.count)]
                scheduled = now.addingTimeInterval(day + random.unit() * 60 * day)
                spareKind = .future
            case ..<0.12:
                // In progress or waiting for parts, late: other statuses than the old rule's.
                status = open[2 + random.below(3)]
            default:
                status = closed[random.below(2)]
                spareKind = .closed
            }
            seen.note(assignedTo: assignedTo, deleted: deletedAt != nil, garbageDate: scheduled == nil ? .some(scheduledText) : .none)
            seen.note(status: status)
            if let spareKind, let scheduled, spare.count < 2 * DirtyForms.count {
                spare.append(SpareTicket(id: id, scheduled: scheduled, kind: spareKind, holds: DirtyForms.forms(status: status, assignedTo: assignedTo)))
            }
            if let scheduled {
                switch overdue ? random.below(20) : 2 {
                case 0:
                    scheduledText = Self.isoText(scheduled)   // the ISO form with T and Z
                    seen.note(.isoUTCDate)
                case 1:
                    // Date-only means the end of that day: two days back has surely passed.
                    scheduledText = String(Self.localText(now.addingTimeInterval(-2 * day), zone: timeZone).prefix(10))
                    seen.note(.dateOnly)
                default: scheduledText = Self.localText(scheduled, zone: timeZone)
                }
            }
            if overdue { summary.overdueByOldRule += 1 }
            let created = now.addingTimeInterval(-(random.unit() * 500 + 1) * day)
            let ticketID = id % 3 == 0
                ? "IGP-PRESSE-PH 450-\(Self.compactDate(created))-\(CivilDate.padded(id, 3))"
                : "IGP-\(2024 + id % 3)-\(CivilDate.padded(id, 4))"
            try insert.execute(arguments: [
                id, ticketID, Self.titles[random.below(Self.titles.count)],
                "Signalé par l'équipe de production. Vérifier l'état général et noter les pièces à commander.",
                1 + random.below(60), status, priorities[random.below(4)], 1 + random.below(40), assignedTo,
                Self.utcText(created), Self.utcText(created), scheduledText, random.below(8) == 0 ? 1 : 0, deletedAt,
            ])
            summary.tickets += 1
        }
        try placeMissing(seen, on: spare, db, &summary)
    }

    /// Gives each dirty form the random draw missed to one spare ticket, in a fixed order. An
    /// open status goes only to a ticket scheduled later (a closed one's date has passed).
    /// A spare that is the only ticket with its status or assignee form is left alone.
    private func placeMissing(_ drawn: DirtyForms, on spare: [SpareTicket], _ db: Database, _ summary: inout Summary) throws {
        var seen = drawn
        var free = spare
        for form in drawn.missing {
            // The few future-dated tickets are kept for the forms that need one; a closed
            // ticket given an open status is scheduled a week ahead.
            let usable = free.indices.filter { index in free[index].holds.allSatisfy { seen.count(of: $0) > 1 } }
            guard let index = usable.first(where: { (free[$0].kind == .future) == form.needsAFutureDate }) ?? usable.first else { break }
            let ticket = free.remove(at: index)
            seen.replace(ticket.holds, with: form)
            let id = ticket.id
            switch form {
            case .softDeleted:
                try db.execute(sql: "UPDATE tickets SET status = 'diagnostic', deleted_at = ? WHERE id = ?",
                               arguments: [Self.utcText(now.addingTimeInterval(-86_400)), id])
                summary.softDeleted += 1
            case .unassigned:
                try db.execute(sql: "UPDATE tickets SET assigned_to = NULL WHERE id = ?", arguments: [id])
            case .wholeTeam:
                try db.execute(sql: "UPDATE tickets SET assigned_to = 0 WHERE id = ?", arguments: [id])
            case .garbageDate(let text):
                try db.execute(sql: "UPDATE tickets SET status = 'received', scheduled_date = ? WHERE id = ?", arguments: [text, id])
                if DirtyForms.isUnreadable(text) { summary.unreadableDates += 1 }
            case .dateOnly:
                // The end of its own day: later than now for a future ticket, past for a closed one.
                try db.execute(sql: "UPDATE tickets SET scheduled_date = ? WHERE id = ?",
                               arguments: [String(Self.localText(ticket.scheduled, zone: timeZone).prefix(10)), id])
            case .isoUTCDate:
                try db.execute(sql: "UPDATE tickets SET scheduled_date = ? WHERE id = ?", arguments: [Self.isoText(ticket.scheduled), id])
            case .status(let status):
                let ahead = form.needsAFutureDate && ticket.kind != .future ? Self.localText(now.addingTimeInterval(7 * 86_400), zone: timeZone) : nil
                try db.execute(sql: "UPDATE tickets SET status = ?, scheduled_date = COALESCE(?, scheduled_date) WHERE id = ?",
                               arguments: [status, ahead, id])
            }
        }
    }

    /// A ticket the old rule does not select, whatever rare form it is given (within
    /// `DirtyForms.Form.needsAFutureDate`).
    struct SpareTicket {
        enum Kind { case future, closed }
        var id: Int
        var scheduled: Date
        /// Open and scheduled after now, or closed (its date has passed).
        var kind: Kind
        /// Its status and assignee forms, which a form placed on it may overwrite.
        var holds: [DirtyForms.Form]
    }

    static func utcText(_ date: Date) -> String { localText(date, offset: 0) }

    static func localText(_ date: Date, zone: ZoneRules) -> String {
        localText(date, offset: zone.secondsFromGMT(for: date))
    }

    static func localText(_ date: Date, offset: Int) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + offset
        let days = Int((Double(seconds) / 86_400).rounded(.down))
        let rest = seconds - days * 86_400
        return CivilDate.text(days: days) + " " + CivilDate.padded(rest / 3600, 2) + ":" + CivilDate.padded(rest % 3600 / 60, 2) + ":" + CivilDate.padded(rest % 60, 2)
    }

    static func isoText(_ date: Date) -> String {
        utcText(date).replacingOccurrences(of: " ", with: "T") + ".000Z"
    }

    static func compactDate(_ date: Date) -> String {
        String(utcText(date).prefix(10)).replacingOccurrences(of: "-", with: "")
    }
}

/// Which of the rare forms a demo database holds: soft-deleted, unassigned and whole-team
/// tickets, and each garbage `scheduled_date`.
struct DirtyForms {
    enum Form: Hashable {
        case softDeleted, unassigned, wholeTeam
        case garbageDate(String?)
        /// `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM:SS.000Z`: readable, but not the app's usual form.
        case dateOnly, isoUTCDate
        case status(String)

        /// An open status on a closed ticket's past date could make it overdue.
        var needsAFutureDate: Bool {
            if case .status(let status) = self { return !DemoTickets.closedStatuses.contains(status) }
            return false
        }
    }

    static let all: [Form] = [.softDeleted, .unassigned, .wholeTeam] + DemoTickets.garbageDates.map { .garbageDate($0) }
        + [.dateOnly, .isoUTCDate] + (DemoTickets.openStatuses + DemoTickets.closedStatuses).map { .status($0) }
    static var count: Int { all.count }

    /// How many tickets hold each form.
    private var seen: [Form: Int] = [:]

    /// The forms of a ticket's status and assignee, which placing another form may overwrite.
    static func forms(status: String, assignedTo: Int64?) -> [Form] {
        [.status(status)] + (assignedTo == nil ? [.unassigned] : assignedTo == 0 ? [.wholeTeam] : [])
    }

    func count(of form: Form) -> Int { seen[form, default: 0] }

    /// A ticket that held `old` now holds `new` (counted as losing all of `old`, to be safe).
    mutating func replace(_ old: [Form], with new: Form) {
        for form in old { seen[form, default: 0] -= 1 }
        add(new)
    }

    /// "demain", "24/11/2026"...: not a date and not one of the ways of saying "no date".
    static func isUnreadable(_ text: String?) -> Bool {
        guard let text else { return false }
        return !text.isEmpty && text != "null"
    }

    /// - Parameter garbageDate: the scheduled_date text when it is one of the garbage forms.
    mutating func note(assignedTo: Int64?, deleted: Bool, garbageDate: String??) {
        if deleted { add(.softDeleted) }
        if assignedTo == nil { add(.unassigned) }
        if assignedTo == 0 { add(.wholeTeam) }
        if let garbageDate { add(.garbageDate(garbageDate)) }
    }

    mutating func note(status: String) { add(.status(status)) }

    mutating func note(_ form: Form) { add(form) }

    private mutating func add(_ form: Form) {
        seen[form, default: 0] += 1
    }

    var missing: [Form] { Self.all.filter { count(of: $0) == 0 } }
}

/// A small, fast, deterministic generator (SplitMix64): demo data must be reproducible.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
