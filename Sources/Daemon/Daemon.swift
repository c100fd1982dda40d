import CProcessMemory
import Dispatch
public import Foundation
public import Logging
import Notifier
public import OverduedConfig
import Scheduler
import Store
import Synchronization
public import Systemd
import TimeZoneRules

#if canImport(Glibc)
import Glibc
#endif

/// `overdued run`: the tick loop and the notifier under systemd. It speaks to the service
/// manager at fixed moments only: `READY=1` once the config is loaded and the stores are
/// open, `STATUS=` after every tick and reload, `RELOADING=1`/`READY=1` around a reload,
/// `WATCHDOG=1` while both loops make progress, `STOPPING=1` on the way out.
public final class Daemon: Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
        /// The state database's file system is full: the start can wait for space
        /// (`RunCommand`), which a restart loop would not (the unit ends failed).
        public var fileSystemFull = false
    }

    /// How `run()` ended.
    public enum Outcome: Sendable, Equatable {
        /// SIGTERM or SIGINT: exit 0.
        case stopped
        /// The daemon cannot go on (the state database was deleted under it): exit non-zero, so
        /// that the service manager (`Restart=on-failure`) starts it again from scratch.
        case failed(String)
    }

    /// The file each reload reads (`Config.sourcePath`: the one the start read).
    private let configPath: String
    private let loader: ConfigLoader
    private let logger: Logger
    private let levels: LevelBox
    private let version: String
    /// Held for the life of the process: no other `run` or `once` delivers from this state database.
    private let deliveryLock: Mutex<DeliveryLock>
    private let notify: SystemdNotifications
    private let now: @Sendable () -> Date
    private let outbox: Outbox
    private let notifier: Notifier
    private let tickLoop: Mutex<TickLoop?> = Mutex(nil)
    /// Set once `stateDatabaseLost` has said the state database is lost and asked for the stop.
    private let stateLossReported = Atomic<Bool>(false)
    private let stateDamageReported = Atomic<Bool>(false)
    /// Why the queue's counts could not be read, while they cannot (said once).
    private let backlogProblem = Mutex<String?>(nil)
    private let gate: SharedWatchdogGate?
    private let state: Mutex<Running>
    private let stopSignal = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let stopRequested = Atomic<Bool>(false)
    /// The running tick's progress (watched by the watchdog gate) and its interruption (stop).
    private let progress = TickProgress()
    /// Why the daemon stops on its own, if it does.
    private let failure = Mutex<String?>(nil)
    /// When the notifier last had the delivery lock looked at, and whether a lock that could
    /// not be made again was warned about.
    private let lockCheckedAt = Mutex<ContinuousClock.Instant?>(nil)
    private let lockProblemWarned = Mutex(false)
    /// SIGHUP and SIGUSR1 are handled here, one at a time; a reload may wait on a locked
    /// tickets database (its `busy_timeout`).
    private let signalQueue = DispatchQueue(label: "overdued.signals")
    /// SIGTERM and SIGINT, apart: a stop never waits behind a reload.
    private let stopQueue = DispatchQueue(label: "overdued.stop")
    /// The signal and watchdog sources, kept alive here for the life of the process.
    private let sources = Mutex<[KeptSource]>([])

    /// A dispatch source, which libdispatch lets any thread hold and cancel (the Swift overlay
    /// does not say `Sendable`): only kept, never used from here.
    private struct KeptSource: @unchecked Sendable {
        let source: any DispatchSourceProtocol
    }

    /// What a reload swaps as one unit.
    private struct Running {
        var config: Config
        /// Nil while no file has been at the path since the start (the app's disk mounted
        /// later, the app not installed yet): ticks are skipped until one is.
        var tickets: TicketsDatabase?
        var engine: RulesEngine
        /// Each rule's candidate rows while the tickets database is unchanged; a new one with
        /// every reload, which may change the rules, the zone or the database.
        var candidates = TickCache()
        var status = StatusLine()
        /// When delivered/dead history is pruned next.
        var pruning = PruneSchedule()
        /// Rows already warned about: one warning per bad row and problem, not one every tick.
        var badRowWarnings = BadRowWarnings()
        /// What was said of the tickets database's file (gone, cannot be examined): each once.
        var ticketsWatch = TicketsFileWatch()
        /// Moved by each reload that changes what a tick evaluates (the rules, the zone): a
        /// tick that read the engine before the move evaluates again when it ends, whether or
        /// not it reached a checkpoint after the reload (see `reload` and `tick`).
        var evaluationGeneration = 0
    }

    /// Signals that the daemon handles.
    public static let handledSignals: [Int32] = [SIGHUP, SIGTERM, SIGINT, SIGUSR1]

    /// - Parameter now: the wall clock (ticks, deliveries, the status line).
    public init(config: Config, loader: ConfigLoader, levels: LevelBox, version: String, logger: Logger,
                now: @escaping @Sendable () -> Date = Date.init) throws(StartError) {
        // Before the notifier's and SQLite's threads allocate: two heap arenas are plenty.
        _ = overdued_limit_heap_arenas(2)
        self.configPath = config.sourcePath
        self.loader = loader
        self.logger = logger
        self.now = now
        self.notify = SystemdNotifications(logger: logger)
        self.levels = levels
        self.version = version
        let tickets: TicketsDatabase?
        let stateDatabase: StateDatabase
        // A tickets database not there yet (on a disk mounted after the service starts, say) is
        // what a running daemon meets when the file goes: ticks are skipped until it is there,
        // the queue is delivered meanwhile. Exiting instead would end, after StartLimitBurst
        // restarts within seconds, in a failed unit that nothing restarts.
        let ticketsMissing = access(config.store.ticketsDatabase, F_OK) != 0 && errno == ENOENT
        do {
            deliveryLock = Mutex(try DeliveryLock(stateDatabase: config.store.stateDatabase))
            // At once after the lock, before the tickets database (which may wait for the
            // app's lock): other commands take a lock held with no state file, or no -wal
            // beside it, for one deleted under its deliverer.
            let upgrade = LongStartStep(notify: notify)
            defer { upgrade.end() }
            stateDatabase = try StateDatabase(path: config.store.stateDatabase, busyTimeout: config.store.busyTimeout) { [logger] migrations in
                logger.notice("upgrading the state database \(config.store.stateDatabase), written by an earlier release (\(migrations.joined(separator: ", "))): a large file takes minutes, with free space of about twice its size; systemd is told to wait meanwhile",
                              metadata: ["event": "start"])
                upgrade.begin(status: "upgrading the state database (\(migrations.count) migration(s))")
            }
            tickets = ticketsMissing ? nil : try TicketsDatabase(path: config.store.ticketsDatabase, busyTimeout: config.store.busyTimeout,
                                                                 progress: progress)
        } catch {
            throw StartError(description: error.description, fileSystemFull: error.kind == .full && error.path == config.store.stateDatabase)
        }
        outbox = Outbox(database: stateDatabase)
        if let notice = stateDatabase.upgradeNotice { logger.notice("\(notice)") }
        if ticketsMissing {
            logger.warning("\(config.store.ticketsDatabase) does not exist (yet): ticks are skipped until a file is at that path; queued notifications are delivered meanwhile",
                           metadata: ["event": "tick"])
        }
        state = Mutex(Running(config: config, tickets: tickets,
                              engine: RulesEngine(config: config),
                              ticketsWatch: TicketsFileWatch(missing: ticketsMissing)))
        let watchdog = notify.watchdogInterval
        gate = watchdog.map { SharedWatchdogGate(limits: Self.limits(config, watchdog: $0)) }
        let gate = self.gate
        // The notifier asks before each request whether this process still holds the lock;
        // the answer needs the daemon, which exists only once the notifier does.
        let permit = Mutex(DeliveryPermit())
        notifier = Notifier(outbox: outbox, destinations: config.destinations, userAgentVersion: version, logger: logger,
                            now: now, onHeartbeat: { _ in gate?.notifierBeat() },
                            mayDeliver: { permit.withLock { $0 }.mayDeliver() })
        permit.withLock { $0 = DeliveryPermit(daemon: self) }
    }

    /// The daemon the notifier asks, by a weak reference: not a closure kept in the `Mutex`.
    /// A closure read back with `withLock { $0 }` was written back wrapped in two more thunks
    /// at each read (swiftlang/swift#91348, in release builds too): 64 bytes of heap and of
    /// stack per delivery, each call walking the whole chain, until the stack overflowed
    /// (measured: a crash after 16,269 deliveries with 1 MB stacks; ~131,000 with 8 MB).
    private struct DeliveryPermit: Sendable {
        private var isSet = false
        private weak var daemon: Daemon?

        init() {}

        init(daemon: Daemon) {
            isSet = true
            self.daemon = daemon
        }

        /// Before the daemon exists, yes; once it is gone, no.
        func mayDeliver() -> Bool {
            guard isSet else { return true }
            return daemon?.mayDeliver() ?? false
        }
    }

    /// A tick may take this long before the watchdog pings stop: well above a normal tick
    /// and a database wait (`busy_timeout`), well below "hung".
    static func limits(_ config: Config, watchdog: Duration) -> WatchdogGate.Limits {
        let budget = max(.seconds(20), config.store.busyTimeout * 4)
        return WatchdogGate.Limits(tickInterval: config.schedule.interval, tickBudget: budget, watchdogInterval: watchdog)
    }

    /// Runs until SIGTERM or SIGINT, or until it cannot go on; returns after stopping.
    /// - Parameter stopRequestedDuringStartUp: asked once the signal handlers exist: whether
    ///   a SIGTERM or SIGINT arrived before (the executable records them from its first
    ///   instant); if so the daemon stops at once, cleanly.
    @discardableResult
    public func run(stopRequestedDuringStartUp: () -> Bool = { false }) async -> Outcome {
        installSignalHandlers()
        if stopRequestedDuringStartUp() {
            logger.notice("stop requested during start-up", metadata: ["event": "stop"])
            requestStop()
        }
        let config = state.withLock { $0.config }
        let loop = TickLoop(schedule: TickSchedule(config.schedule),
                            logger: logger, now: now) { [self] due in tick(due: due) }
        tickLoop.withLock { $0 = loop }
        logger.notice("overdued \(version) started: \(config.rules.count) rule(s), \(config.destinations.count) destination(s), tick every \(DurationText.format(config.schedule.interval))",
                      metadata: ["event": "start"])
        logConfigWarnings(config)
        logQueuesOnHold(config)
        // What is queued from before (a restart) is in the first STATUS=, not "queue 0" until
        // the first tick or delivery (two small index reads; a read never waits for a writer).
        let backlog = queueBacklog()
        notify.ready(status: state.withLock { running in
            if let backlog {
                running.status.queueDepth = backlog.depth
                running.status.dead = backlog.dead
            }
            return running.status.text
        })
        startWatchdogPings()
        let delivery = Task { await notifier.run() }
        let statusRefresh = Task { await refreshQueueStatus() }
        // A stop asked for during start-up (or just now) runs no tick at all.
        if !isStopping { loop.start() }
        await withCheckedContinuation { continuation in
            let stopNow = stopSignal.withLock { waiting -> Bool in
                waiting = continuation
                return stopRequested.load(ordering: .sequentiallyConsistent)
            }
            if stopNow { resumeStop() }
        }
        statusRefresh.cancel()
        let failed = failure.withLock { $0 }
        notify.stopping(status: failed.map { "stopping: \($0)" } ?? "stopping")
        logger.notice("stopping: no new ticks; in-flight deliveries get up to 5s, the rest stays queued", metadata: ["event": "stop"])
        // The tick running, if any, is interrupted; one waiting for another process's lock on
        // the state database waits on through the grace below, like the deliveries' records,
        // so the loop is stopped beside it rather than before it.
        async let tickEnded: Void = withCheckedContinuation { (ended: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                loop.stop()
                ended.resume()
            }
        }
        await notifier.shutdown(grace: .seconds(5))
        // Nothing waits for the state database's lock any more (a worker's last records, a
        // tick's enqueue): what another process's lock holds back now is what a crash would
        // leave, and the stop fits systemd's TimeoutStopSec whatever `busy_timeout` is.
        outbox.database.stopWaitingForLocks()
        await tickEnded
        delivery.cancel()
        await delivery.value
        await statusRefresh.value
        if let failed {
            // Closed all the same: SQLite then copies its log into the file it has open (a
            // deleted or replaced one, maybe) and removes that log's `-wal` and `-shm` by name.
            // Left behind, they would be replayed onto whatever file is at the path when the
            // service restarts (a backup put in place): damaged, or silently the old state.
            _ = outbox.database.close()
            logger.error("stopped: \(failed)", metadata: ["event": "stop"])
            return .failed(failed)
        }
        if let incomplete = outbox.database.close() {
            logger.notice("the state database's write-ahead log could not be copied into \(outbox.database.path) entirely (\(incomplete)); it stays beside it, and a copy of the file alone is not a backup: use sqlite3 \(outbox.database.path) \".backup FILE\"",
                          metadata: ["event": "stop"])
        }
        logger.notice("stopped", metadata: ["event": "stop"])
        return .stopped
    }

    /// How often `STATUS=`'s queue counts are brought up to date between ticks.
    static let statusRefreshInterval: Duration = .seconds(5)

    /// Keeps `STATUS=`'s queue and dead counts true between ticks (the next tick may be five
    /// minutes away): every few seconds, if the notifier recorded attempts since (or a
    /// receiver's pause began or ended), counts the queue again (two small index reads) and
    /// sends the line.
    private func refreshQueueStatus() async {
        var seen = notifier.recordedAttempts
        var seenPauses: [(destination: String, until: Date, crashingAnswers: Bool)] = []
        var seenHeld: String?
        while (try? await Task.sleep(for: Self.statusRefreshInterval)) != nil {
            keepDeliveryLock()
            // Between ticks too (five minutes apart by default): the notifier writes on, and
            // a deleted `-wal` splits the file's history between two logs from then on.
            if stateDatabaseLost() { return }
            // A tick with nothing changed reads nothing of the file: the notifier's records
            // and queue reads are what find it damaged then.
            if let damage = notifier.stateDatabaseDamage {
                stateDatabaseDamaged(damage)
                return
            }
            let recorded = notifier.recordedAttempts
            // A pause read at start, or one that ended, records no attempt.
            let pauses = notifier.receiverPauses
            let pausesChanged = !pauses.elementsEqual(seenPauses) { $0 == $1 }
            let held = notifier.deliveriesHeld
            guard recorded != seen || pausesChanged || held != seenHeld, let backlog = queueBacklog() else { continue }
            seen = recorded
            seenPauses = pauses
            seenHeld = held
            let text = state.withLock { running -> String in
                running.status.deliveriesHeld = held
                running.status.queueDepth = backlog.depth
                running.status.dead = backlog.dead
                running.status.receiverPauses = pauses
                return running.status.text
            }
            notify.status(text)
        }
    }

    // MARK: signals

    private func installSignalHandlers() {
        var installed: [any DispatchSourceProtocol] = []
        for number in Self.handledSignals {
            let stops = number == SIGTERM || number == SIGINT
            let source = DispatchSource.makeSignalSource(signal: number, queue: stops ? stopQueue : signalQueue)
            source.setEventHandler { @Sendable [weak self] in
                guard let self else { return }
                if !stops, isStopping {
                    logger.info("\(number == SIGHUP ? "SIGHUP" : "SIGUSR1") ignored: overdued is stopping")
                    return
                }
                switch number {
                case SIGHUP: reload()
                case SIGUSR1:
                    // Not an event of its own: the tick it starts logs event=tick.
                    if tickLoop.withLock({ $0 })?.tickNow() == true {
                        logger.info("SIGUSR1: checking now")
                    } else {
                        logger.debug("SIGUSR1: a check is already asked for")
                    }
                default: requestStop()
                }
            }
            source.resume()
            installed.append(source)
        }
        let kept = installed.map(KeptSource.init)
        sources.withLock { $0 += kept }
    }

    /// From any queue: no new tick, the running one interrupted (it writes nothing), no new
    /// delivery started; `run()` then lets requests in flight finish and returns.
    private func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        tickLoop.withLock { $0 }?.stopping()
        progress.interrupt()
        notifier.stopTakingWork()
        resumeStop()
    }

    private var isStopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

    private func resumeStop() {
        let continuation = stopSignal.withLock { waiting -> CheckedContinuation<Void, Never>? in
            defer { waiting = nil }
            return waiting
        }
        continuation?.resume()
    }

    // MARK: reload

    /// A warning for each certificate of a destination's `tls` files that has expired or soon
    /// will: handshakes that need it fail, each one only as "certificate verify failed".
    /// What `check-config` warns about (certificates that expire, secret files every user
    /// can read, weak keys), in the journal at start and at each reload.
    private func logConfigWarnings(_ config: Config) {
        for warning in config.warnings.map(\.description) + DestinationTLS.validityWarnings(config.destinations, now: now()) {
            logger.warning("\(warning)")
        }
    }

    /// Says which destinations no longer in the config still have notifications queued: they
    /// are on hold, untried, until a destination of that name is back. A destination renamed
    /// by a reload leaves its queue so, and the tickets' next notifications wait for their
    /// `repeat` (a day by default): said at the start and at each reload that changes the
    /// destinations, not only by `overdued queue`.
    private func logQueuesOnHold(_ config: Config) {
        guard let held = try? outbox.queuedCounts(outside: config.destinations.map(\.name)), !held.isEmpty else { return }
        for (destination, count) in held.sorted(by: { $0.key < $1.key }) {
            logger.warning("\(count) queued notification(s) for destination \(destination), which is not in the config, are on hold (not tried while so) until it is back; a destination renamed does not take them over (see `overdued queue`)",
                           metadata: ["destination": "\(destination)"])
        }
    }

    /// SIGHUP: validate the whole new file first; swap atomically or keep the old one.
    func reload() {
        notify.reloading()
        let current = state.withLock { $0.config }
        let candidate: Result<Config, ConfigError>
        do {
            candidate = .success(try loader.load(path: configPath))
        } catch {
            candidate = .failure(error)
        }
        var plan = ConfigReload.plan(current: current, candidate: candidate)
        var newTickets: TicketsDatabase?
        var ticketsGone = false
        if case .apply(let config, _, true) = plan {
            let path = config.store.ticketsDatabase
            if path == current.store.ticketsDatabase, access(path, F_OK) != 0, errno == ENOENT {
                // The same path, with no file now (not there yet, or gone): as at the start,
                // ticks are skipped until it is there, and it is then opened with the new
                // settings. Refusing would throw away every other change of this reload.
                ticketsGone = true
            } else {
                do {
                    newTickets = try TicketsDatabase(path: path, busyTimeout: config.store.busyTimeout, progress: progress)
                } catch {
                    plan = .refuse(problems: ["store.tickets_database: \(error.description)"])
                }
            }
        }
        switch plan {
        case .refuse(let problems):
            logger.error("reload of \(configPath) refused, still running on the previous config: \(problems.joined(separator: "; "))",
                         metadata: ["event": "reload_failed"])
            let text = state.withLock { running -> String in
                running.status.reloadProblem = "reload failed (\(problems.count) problem\(problems.count == 1 ? "" : "s")), running on the previous config"
                return running.status.text
            }
            readyAfterReload(status: text)
        case .apply(let config, let changes, _):
            let schedule = TickSchedule(config.schedule)
            let evaluationChanged = changes.contains("rules") || changes.contains("store.timezone")
            let (text, tickRunning) = state.withLock { running -> (String, Bool) in
                if evaluationChanged { running.evaluationGeneration += 1 }
                // The loop re-arms from now on a new schedule (`TickLoop.update`): say when.
                if config.schedule != running.config.schedule {
                    let previousDue = [running.status.lastTick, running.status.tickProblem?.due].compactMap { $0 }.max()
                    running.status.nextTick = schedule.next(after: previousDue, now: now())
                }
                running.config = config
                if let newTickets {
                    running.tickets = newTickets
                    running.ticketsWatch.missing = false
                } else if ticketsGone {
                    running.tickets = nil
                }
                running.engine = RulesEngine(config: config)
                // Rows read through the same connection still answer the rules whose query did
                // not change (a secret rotated must not cost a full read); another connection's
                // change counter is not comparable, so a reopened database starts afresh.
                if newTickets != nil || ticketsGone {
                    running.candidates = TickCache()
                } else {
                    running.candidates = running.candidates.carryingRows()
                }
                running.status.reloadProblem = nil
                // Read in the same lock as the engine swap: a tick that starts after it reads
                // the new engine; one running now ends by evaluating again.
                return (running.status.text, running.status.tickRunningSince != nil)
            }
            // A tick running now read the old rules: it stops before its enqueue commits and
            // runs again with these (a reload that removes a rule written too wide during its
            // first, long tick must not let that tick queue everything it matched).
            if evaluationChanged { progress.supersedeTick() }
            notifier.update(destinations: config.destinations)
            tickLoop.withLock { $0 }?.update(schedule: schedule)
            if let gate, let watchdog = notify.watchdogInterval { gate.setLimits(Self.limits(config, watchdog: watchdog)) }
            // The reload's own record is written under whichever level lets it through, the
            // old or the new: lowering the level to "error" must not hide the reload that did it.
            let level = Logger.Level(configName: config.log.level.rawValue) ?? .info
            let moreVerbose = level <= levels.get()
            if moreVerbose { levels.set(level) }
            // Credentials are systemd's copies, made at start: a rotated one is not seen here.
            let credentials = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"].map { !$0.isEmpty } ?? false
                ? " (secret files in $CREDENTIALS_DIRECTORY are the copies systemd made at start: a changed credential needs systemctl restart)"
                : ""
            logger.notice("reloaded \(configPath): \(changes.isEmpty ? "no changes" : "changed " + changes.joined(separator: ", "))\(credentials)",
                          metadata: ["event": "reload"])
            if !moreVerbose { levels.set(level) }
            logConfigWarnings(config)
            if changes.contains("destinations") { logQueuesOnHold(config) }
            // New rules are evaluated at once, not at the next scheduled tick (up to an interval
            // later): a rule removed or narrowed because it was written too wide must not have
            // its queue delivered meanwhile (the tick withdraws it). A tick running now does so
            // itself when it ends (`evaluationGeneration`).
            if evaluationChanged, !tickRunning {
                _ = tickLoop.withLock { $0 }?.tickNow()
            }
            readyAfterReload(status: text)
        }
    }

    /// `READY=1` with the status after a reload, unless a stop began meanwhile: the service
    /// manager must not see the daemon ready again once it said `STOPPING=1`.
    private func readyAfterReload(status: String) {
        guard !isStopping else { return }
        notify.ready(status: status)
    }

    // MARK: ticks

    /// What a tick reads: the tickets database with its cache, or nothing (the tick is skipped,
    /// with this alert for the status line).
    private enum TicketsRead {
        case read(TicketsDatabase, TickCache)
        case skip(alert: String)
    }

    /// One look at the tickets database's file before a tick (one `stat` when nothing changed).
    /// A file replaced by a new one, rewritten in place behind SQLite's back, or back after it
    /// was gone, is opened afresh with a new cache. If a replacement cannot be opened, the tick
    /// reads the previous file; otherwise there is no previous content to read (rewritten, or
    /// deleted), so the tick is skipped: a deleted file is warned about once, not read.
    private func ticketsToRead(_ current: TicketsDatabase?, _ candidates: TickCache) -> TicketsRead {
        guard let tickets = current else { return firstOpen() }
        let path = tickets.path
        var change = tickets.fileChange()
        if change == .unchanged, tickets.schemaChanged() { change = .schemaChanged }
        let (step, lines) = state.withLock { running in
            running.ticketsWatch.look(change, path: path, shmExists: { FileManager.default.fileExists(atPath: path + "-shm") })
        }
        for line in lines { logger.log(level: line.level, "\(line.text)", metadata: ["event": "tick"]) }
        switch step {
        case .read:
            return .read(tickets, candidates)
        case .skip(let alert):
            return .skip(alert: alert)
        case .reopen(let why):
            switch reopen(tickets) {
            case .success(let (reopened, cache)):
                let line = state.withLock { $0.ticketsWatch.reopened(why, path: path) }
                logger.log(level: line.level, "\(line.text)", metadata: ["event": "tick"])
                return .read(reopened, cache)
            case .failure(let error):
                let (keepReading, line, alert) = state.withLock { running in
                    running.ticketsWatch.reopenFailed(why, path: path, error: error.description, previousStillOpen: !tickets.isClosed)
                }
                logger.log(level: line.level, "\(line.text)", metadata: ["event": "tick"])
                return keepReading ? .read(tickets, candidates) : .skip(alert: alert ?? "skipped: tickets database unreadable")
            }
        }
    }

    /// The tickets database was not there at the start, or a reopen failed (the old connection
    /// closed): opened at the first tick that finds a file at its path that opens. A missing
    /// file is warned about once (at the start, or here after a failed reopen), and said once
    /// when it is there.
    private func firstOpen() -> TicketsRead {
        let store = state.withLock { $0.config.store }
        let path = store.ticketsDatabase
        guard access(path, F_OK) == 0 else {
            let newlyMissing = state.withLock { running in
                defer { running.ticketsWatch.missing = true }
                return !running.ticketsWatch.missing
            }
            if newlyMissing {
                logger.warning("\(path) is gone (deleted or moved away): ticks are skipped until a file is back at that path",
                               metadata: ["event": "tick"])
            }
            return .skip(alert: "skipped: tickets database missing")
        }
        do {
            let opened = try TicketsDatabase(path: path, busyTimeout: store.busyTimeout, progress: progress)
            let cache = TickCache()
            // A reload may have opened another path meanwhile: its connection stays, and this
            // tick reads it (the one opened here is dropped).
            var wasMissing = false
            let current = state.withLock { running -> (TicketsDatabase, TickCache)? in
                guard running.tickets == nil, running.config.store.ticketsDatabase == path else {
                    return running.tickets.map { ($0, running.candidates) }
                }
                running.tickets = opened
                running.candidates = cache
                wasMissing = running.ticketsWatch.missing
                running.ticketsWatch.missing = false
                return (opened, cache)
            }
            guard let (tickets, candidates) = current else { return .skip(alert: "skipped: tickets database missing") }
            if tickets === opened {
                // After a failed reopen the file was there all along, and could not be opened.
                logger.notice("\(path) \(wasMissing ? "is there now" : "can be opened again"); reading it", metadata: ["event": "tick"])
            }
            return .read(tickets, candidates)
        } catch {
            logger.warning("\(path) is there but cannot be opened (\(error.description)); tick skipped, retrying next tick",
                           metadata: ["event": "tick"])
            return .skip(alert: "skipped: tickets database unreadable")
        }
    }

    /// Opens the tickets database's file again and makes it, with a new cache, the one ticks read.
    /// The old connection is closed first, unless another file is at the path (then it is
    /// kept until the new one opens): SQLite's unix layer keeps one mapping of a file's WAL
    /// index per process while any connection to the file is open, so a new connection beside
    /// a stale one can inherit its view (an audit saw disk I/O errors at every tick that way).
    /// If the new one cannot be opened after that, the next tick opens the file as at the start.
    private func reopen(_ old: TicketsDatabase) -> Result<(TicketsDatabase, TickCache), StoreError> {
        let busyTimeout = state.withLock { $0.config.store.busyTimeout }
        let sameFile = !old.fileWasReplaced()
        if sameFile { old.close() }
        do {
            let reopened = try TicketsDatabase(path: old.path, busyTimeout: busyTimeout, progress: progress)
            let cache = TickCache()
            state.withLock { running in
                if running.tickets === old {
                    running.tickets = reopened
                    running.candidates = cache
                }
            }
            return .success((reopened, cache))
        } catch {
            if sameFile {
                state.withLock { running in
                    if running.tickets === old { running.tickets = nil }
                }
            }
            return .failure(error)
        }
    }

    /// A read of the tickets database found it damaged, or failed with an I/O error. A
    /// connection can see that of a sound file: one whose WAL index went stale (its -wal and
    /// -shm deleted and made again behind it) reads pages that do not fit. Waiting does not heal such a connection, while a new
    /// one reads the file as it is; a file really damaged fails the same way through it.
    private func reopenAfterDamage(_ tickets: TicketsDatabase) -> String {
        switch reopen(tickets) {
        case .success:
            "retrying next tick through a new connection (one whose view went stale can read a sound file as damaged)"
        case .failure(let error):
            "retrying next tick (a new connection could not be opened either: \(error.description))"
        }
    }

    /// Between ticks the daemon mostly waits: SQLite's page caches and the heap the tick
    /// grew are given back (glibc keeps freed memory otherwise).
    private func releaseMemory(tickets: TicketsDatabase?) {
        tickets?.releaseMemory()
        outbox.database.releaseMemory()
        _ = overdued_release_free_heap()
    }

    /// The state database's file was deleted or replaced under the open handle: what the
    /// daemon would write from now on goes into a file nobody will ever open again (lost at
    /// the next start), and new connections fail for ever. Stop with an error instead, so that
    /// the service manager starts a fresh daemon on a fresh file.
    private func stateDatabaseLost() -> Bool {
        guard let change = outbox.database.fileChange() else { return false }
        // Said once: the status refresh and a tick may both find it before the stop ends.
        guard !stateLossReported.exchange(true, ordering: .acquiringAndReleasing) else { return true }
        let reason = "the state database \(outbox.database.path) \(change) while overdued was running"
        let restart = if case .logGone = change {
            // The file is there: the stop's close copies the log it holds open into it.
            "Stopping with an error, after copying what the log held into the file, so that the service restarts on it with every record"
        } else {
            "Stopping with an error so that the service restarts on a fresh file"
        }
        logger.critical("\(reason); nothing more is enqueued or delivered into it. \(restart)", metadata: ["event": "stop"])
        failure.withLock { $0 = $0 ?? reason }
        requestStop()
        return true
    }

    /// What one look at the delivery lock found.
    private enum LockCheck {
        case held
        case lockedAgain
        /// The path cannot be locked (a folder there, permissions): nobody else can lock it
        /// either, so this process goes on, with a warning.
        case cannotLockAgain(StoreError)
        /// Another process locked the new file first.
        case takenOver(StoreError)
    }

    /// The delivery lock's file was deleted or replaced (by hand, a clean-up of the state
    /// folder): another `run` or `once` could now lock a new file and deliver beside this
    /// daemon, sending everything twice. Checked at each tick, every few seconds, and before
    /// deliveries (at most every `lockCheckInterval`): lock the path again, or, when another
    /// process already holds it, stop with an error so that one deliverer is left. The look
    /// and the new lock are one step under the mutex: two threads never both lock again (the
    /// second would find the first's lock held, "by another process"). Returns whether this
    /// process may go on delivering.
    @discardableResult
    private func keepDeliveryLock() -> Bool {
        let (path, check) = deliveryLock.withLock { lock -> (String, LockCheck) in
            guard !lock.isAtItsPath() else { return (lock.path, .held) }
            do throws(StoreError) {
                lock = try DeliveryLock(stateDatabase: outbox.database.path)
                return (lock.path, .lockedAgain)
            } catch where error.kind == .inUse {
                return (lock.path, .takenOver(error))
            } catch {
                return (lock.path, .cannotLockAgain(error))
            }
        }
        switch check {
        case .held:
            return !isStopping
        case .lockedAgain:
            logger.warning("the delivery lock \(path) was deleted or replaced while overdued was running; locked it again")
            return !isStopping
        case .cannotLockAgain(let error):
            let first = lockProblemWarned.withLock { warned in defer { warned = true }; return !warned }
            if first {
                logger.warning("the delivery lock \(path) was deleted or replaced and cannot be made again (\(error.message)); no other run or once can lock it either: still delivering")
            }
            return !isStopping
        case .takenOver(let error):
            let reason = "the delivery lock \(path) was deleted or replaced, and another process locked it: \(error.message)"
            logger.critical("\(reason). Stopping with an error so that only one process delivers", metadata: ["event": "stop"])
            failure.withLock { $0 = $0 ?? reason }
            requestStop()
            return false
        }
    }

    /// `keepDeliveryLock()` for the notifier, before each request: two `stat`s, at most
    /// every `lockCheckInterval` (the last answer in between).
    private func mayDeliver() -> Bool {
        let now = ContinuousClock.now
        let due = lockCheckedAt.withLock { last -> Bool in
            guard last.map({ $0.duration(to: now) >= Self.lockCheckInterval }) ?? true else { return false }
            last = now
            return true
        }
        return due ? keepDeliveryLock() : !isStopping
    }

    static let lockCheckInterval: Duration = .milliseconds(100)

    /// The queue's counts for the status line, or nil when the state database did not give
    /// them (the line keeps the last ones). A damaged file stops the daemon, as a tick's
    /// finding does; another failure is logged once, until a count succeeds again.
    private func queueBacklog() -> QueueBacklog? {
        do {
            let backlog = try outbox.backlog()
            if backlogProblem.withLock({ $0.take() }) != nil {
                logger.notice("the state database gives the queue's counts again")
            }
            return backlog
        } catch where error.kind == .corrupt && error.path == outbox.database.path {
            stateDatabaseDamaged(error)
        } catch {
            let first = backlogProblem.withLock { problem in
                defer { problem = error.description }
                return problem == nil
            }
            if first { logger.warning("cannot count the queue for the status line, which keeps the last counts: \(error.description)") }
        }
        return nil
    }

    /// The state database's file is damaged: no tick can enqueue and no delivery be recorded
    /// until someone repairs or restores it, and waiting does not heal it. Stop with an error,
    /// like a lost file, so that the unit's failure shows (after `Restart=on-failure` has tried
    /// a few times, `systemctl status` says failed) instead of a daemon that only logs.
    private func stateDatabaseDamaged(_ error: StoreError) {
        // Said once: the tick and the status refresh may both find it before the stop ends.
        guard !stateDamageReported.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.critical("\(error.description); stopping with an error: nothing can be enqueued or recorded until the file is repaired or restored",
                        metadata: ["event": "stop"])
        failure.withLock { $0 = $0 ?? "the state database \(outbox.database.path) is damaged" }
        requestStop()
    }

    /// A `tzdata` upgrade rewrites the zone's file under the running daemon: its new rules
    /// apply from this tick on, without a reload (one `stat` a tick when nothing changed).
    private func refreshZoneRules() {
        let zone = state.withLock { $0.engine.timeZone }
        guard let newer = zone.reloadedIfChanged() else { return }
        let replaced = state.withLock { running -> Bool in
            guard running.engine.timeZone === zone else { return false }   // a reload came first
            running.engine.timeZone = newer
            // The config's too: a reload compares the new file with it (same rules: no change).
            running.config.store.timeZone = newer
            return true
        }
        guard replaced else { return }
        let release = ZoneRules.systemVersion().map { " (tzdata \($0))" } ?? ""
        if newer == zone {
            logger.info("the time zone file of \(zone.identifier) was rewritten\(release); its rules are unchanged")
        } else {
            logger.notice("the rules of time zone \(zone.identifier) changed on disk\(release): naive scheduled dates are read with the new rules from this tick on",
                          metadata: ["event": "reload"])
        }
    }

    /// One tick: evaluate every rule, enqueue, wake the notifier, report. A busy database
    /// skips the tick (the next one retries); only a lost or damaged state database stops the
    /// process.
    private func tick(due: Date) {
        guard !isStopping else { return }
        gate?.tickStarted()
        keepDeliveryLock()
        if stateDatabaseLost() {
            gate?.tickFinished()
            return
        }
        progress.beginTick()
        refreshZoneRules()
        // The rules this tick evaluates are taken before STATUS says it runs: a reload seen
        // after that line stops this tick (and the next one runs with the new rules).
        let (statusText, current, engine, currentCandidates, generation) = state.withLock { running in
            running.status.tickRunningSince = due
            return (running.status.text, running.tickets, running.engine, running.candidates, running.evaluationGeneration)
        }
        notify.status(statusText)
        let started = ContinuousClock.now
        var superseded = false
        var summary: TickSummary?
        var alert: String?
        var read: TicketsDatabase?
        switch ticketsToRead(current, currentCandidates) {
        case .skip(let reason):
            alert = reason
        case .read(let tickets, let candidates):
            read = tickets
            do {
                summary = try evaluate(tickets: tickets, engine: engine, cache: candidates, due: due)
            } catch where error.kind == .corrupt && error.path == outbox.database.path {
                stateDatabaseDamaged(error)
            } catch where error.kind == .interrupted && !isStopping && progress.isSuperseded {
                superseded = true
                logger.notice("tick stopped by a reload that changed the rules or the time zone; nothing of it was enqueued, evaluating again with the new config",
                              metadata: ["event": "tick"])
            } catch where error.kind == .interrupted || isStopping {
                // (A wait for the app's lock given up because of the stop ends as "busy".)
                logger.notice("tick interrupted: overdued is stopping; nothing of it was enqueued (the next start evaluates again)",
                              metadata: ["event": "tick"])
            } catch {
                alert = error.kind == .busy ? "skipped: database busy" : "failed"
                let stale = (error.kind == .corrupt || error.kind == .io) && error.path == tickets.path
                let retry = stale ? reopenAfterDamage(tickets) : "retrying next tick"
                logger.warning("tick skipped, \(retry): \(error.description)", metadata: ["event": "tick"])
            }
        }
        guard !isStopping else {
            // Stopping: the status says so already, and the rest waits for the next start.
            gate?.tickFinished()
            return
        }
        let elapsed = ContinuousClock.now - started
        let backlog = queueBacklog()
        let pauses = notifier.receiverPauses
        let (text, reloadedMeanwhile) = state.withLock { running -> (String, Bool) in
            running.status.receiverPauses = pauses
            let schedule = TickSchedule(running.config.schedule)
            let next = schedule.next(after: due, now: now())
            if let summary {
                running.status.lastTick = due
                (running.status.matches, running.status.enqueued) = (summary.matches, summary.enqueued)
                running.status.tickProblem = nil
            } else if let alert {
                running.status.tickProblem = (due, alert)
            }
            running.status.queueDepth = backlog?.depth ?? running.status.queueDepth
            running.status.dead = backlog?.dead ?? running.status.dead
            running.status.nextTick = next
            running.status.tickRunningSince = nil
            return (running.status.text, running.evaluationGeneration != generation)
        }
        if let summary {
            let reused = if let since = summary.unchangedSince {
                " (nothing changed since the tick of \(CivilDate.iso8601(since)): result reused)"
            } else if summary.reused > 0 {
                " (tickets unchanged: \(summary.reused) of \(engine.rules.count) rule queries reused)"
            } else {
                ""
            }
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            let withdrawn = summary.withdrawn > 0 ? "; \(summary.withdrawn) queued notification(s) withdrawn" : ""
            logger.info("tick: \(summary.matches) matches, \(summary.enqueued) enqueued in \(micros / 1000).\(micros % 1000 / 100) ms\(reused)\(withdrawn)",
                        metadata: ["event": "tick", "duration_ms": "\(elapsed.milliseconds)", "queries_reused": "\(summary.reused)"])
        }
        pruneHistoryIfDue(now: due)
        releaseMemory(tickets: read)
        gate?.tickFinished()
        notify.status(text)
        // Stopped by a reload (superseded), or a reload came after this tick's last checkpoint
        // (its enqueue had committed under the old rules): evaluate again with the new ones,
        // as a tick of its own once this one has ended (not nested in it: its time is not this
        // tick's, and reloads during it must not stack ticks on the queue's stack).
        if superseded || reloadedMeanwhile { _ = tickLoop.withLock { $0 }?.tickNow() }
    }

    /// What a tick found, for its log line and the status line.
    private typealias TickSummary = (matches: Int, enqueued: Int, reused: Int, unchangedSince: Date?, withdrawn: Int)

    /// Evaluates every rule on `tickets`, enqueues what they decide and wakes the notifier.
    private func evaluate(tickets: TicketsDatabase, engine: RulesEngine, cache: TickCache, due: Date) throws(StoreError) -> TickSummary {
        let report = try engine.scanAndEnqueue(tickets: tickets, outbox: outbox, now: due, cache: cache, progress: progress)
        notifier.forget(withdrawn: report.withdrawals.map { ($0.notification.id, $0.notification.destination) })
        if !report.notifications.isEmpty { notifier.wake() }
        logBadRows(report.badRows, complete: report.unchangedSince == nil)
        ScanLog.matchesAndEnqueued(report, to: logger)
        return (report.matches.count, report.enqueuedCount, report.reusedQueries, report.unchangedSince, report.withdrawals.count)
    }

    /// At most once an hour, deletes delivered, dead and withdrawn notifications older than
    /// `store.history_retention` (the dedup state is apart and untouched). A long backlog is
    /// deleted a bounded part per tick (`HistoryPruning`), on every tick until it is gone.
    private func pruneHistoryIfDue(now: Date) {
        let due = state.withLock { running -> (retention: Duration, budget: Duration, failing: Bool)? in
            guard running.pruning.isDue(at: ContinuousClock.now) else { return nil }
            return (running.config.store.historyRetention, HistoryPruning.budget(tickInterval: running.config.schedule.interval),
                    running.pruning.failing)
        }
        guard let (retention, budget, failing) = due else { return }
        let outcome = HistoryPruning.prune(outbox, retention: retention, now: now, budget: budget, logger: logger, failedBefore: failing)
        if failing, outcome != .failed { logger.notice("the history can be pruned again") }
        state.withLock { running in
            running.pruning.failing = outcome == .failed
            if outcome != .done { running.pruning.again() }
        }
    }

    private func logBadRows(_ rows: [BadRow], complete: Bool) {
        let fresh = state.withLock { $0.badRowWarnings.fresh(rows, complete: complete) }
        for row in fresh { ScanLog.badRow(row, to: logger) }
    }

    // MARK: watchdog

    /// Pings at half of `WATCHDOG_USEC`, only while the gate sees both loops alive: a hung
    /// tick (a lock held forever) or a stuck notifier stops the pings and systemd restarts us.
    private func startWatchdogPings() {
        guard let gate, let interval = notify.watchdogPingInterval else { return }
        let queue = DispatchQueue(label: "overdued.watchdog")
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: .milliseconds(Int(max(interval.milliseconds, 100))))
        let pings = WatchdogPings(gate: gate, notify: notify, logger: logger)
        // A running tick counts as progressing while its steps advance between two pings.
        let progress = progress
        let stepsSeen = Mutex(progress.stepCount)
        timer.setEventHandler { @Sendable [weak self] in
            // Stopping (from SIGTERM on; STOPPING=1 follows at once): systemd no longer watches,
            // and the loops wind down on purpose; a "pings stopped" error then would be a false alarm.
            guard let self, !isStopping else { return }
            let steps = progress.stepCount
            pings.turn(tickProgressed: stepsSeen.withLock { seen in defer { seen = steps }; return seen != steps })
        }
        timer.resume()
        let kept = KeptSource(source: timer)
        sources.withLock { $0.append(kept) }
    }
}
