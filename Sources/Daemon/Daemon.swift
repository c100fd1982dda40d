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
///
/// The start and the run are here; the rest by concern: signals (`Daemon+Signals`), reloads
/// (`+Reload`), the tickets database's file before each tick (`+TicketsFile`), the tick
/// (`+Tick`), the state database's file and the delivery lock (`+StateDatabaseWatch`), and
/// the watchdog pings (`+Watchdog`).
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
    let configPath: String
    let loader: ConfigLoader
    let logger: Logger
    let levels: LevelBox
    let version: String
    /// Held for the life of the process: no other `run` or `once` delivers from this state database.
    let deliveryLock: Mutex<DeliveryLock>
    let notify: SystemdNotifications
    let now: @Sendable () -> Date
    let outbox: Outbox
    let notifier: Notifier
    let tickLoop: Mutex<TickLoop?> = Mutex(nil)
    /// Set once `stateDatabaseLost` has said the state database is lost and asked for the stop.
    let stateLossReported = Atomic<Bool>(false)
    let stateDamageReported = Atomic<Bool>(false)
    /// Why the queue's counts could not be read, while they cannot (said once).
    let backlogProblem = Mutex<String?>(nil)
    let gate: SharedWatchdogGate?
    let state: Mutex<Running>
    let stopSignal = Mutex<CheckedContinuation<Void, Never>?>(nil)
    let stopRequested = Atomic<Bool>(false)
    /// The running tick's progress (watched by the watchdog gate) and its interruption (stop).
    let progress = TickProgress()
    /// Why the daemon stops on its own, if it does.
    let failure = Mutex<String?>(nil)
    /// When the notifier last had the delivery lock looked at, and whether a lock that could
    /// not be made again was warned about.
    let lockCheckedAt = Mutex<ContinuousClock.Instant?>(nil)
    let lockProblemWarned = Mutex(false)
    /// SIGHUP and SIGUSR1 are handled here, one at a time; a reload may wait on a locked
    /// tickets database (its `busy_timeout`).
    let signalQueue = DispatchQueue(label: "overdued.signals")
    /// SIGTERM and SIGINT, apart: a stop never waits behind a reload.
    let stopQueue = DispatchQueue(label: "overdued.stop")
    /// The signal and watchdog sources, kept alive here for the life of the process.
    let sources = Mutex<[KeptSource]>([])

    /// A dispatch source, which libdispatch lets any thread hold and cancel (the Swift overlay
    /// does not say `Sendable`): only kept, never used from here.
    struct KeptSource: @unchecked Sendable {
        let source: any DispatchSourceProtocol
    }

    /// What a reload swaps as one unit.
    struct Running {
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
        /// Rules whose queue the notifier holds (`Notifier.hold`) until a tick evaluating
        /// `evaluationGeneration` (or a later one) has ended: removed or changed by a reload
        /// (or removed while overdued was stopped), not weighed yet.
        var heldRules: Set<String> = []
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
        let ticketsBusy: StoreError?
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
            (tickets, ticketsBusy) = ticketsMissing ? (nil, nil) : try Self.openTicketsAtStart(config.store, progress: progress)
        } catch {
            throw StartError(description: error.description, fileSystemFull: error.kind == .full && error.path == config.store.stateDatabase)
        }
        outbox = Outbox(database: stateDatabase)
        if let notice = stateDatabase.upgradeNotice { logger.notice("\(notice)") }
        if ticketsMissing {
            logger.warning("\(config.store.ticketsDatabase) does not exist (yet): ticks are skipped until a file is at that path; queued notifications are delivered meanwhile",
                           metadata: ["event": "tick"])
        }
        if let ticketsBusy {
            logger.warning("\(ticketsBusy.description): ticks try to open it again until they can; queued notifications are delivered meanwhile",
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
        if let tickets { sayMissingIndexes(of: tickets, before: nil) }
    }

    /// The tickets database at the start; nil with the reason when the app holds it for now (its
    /// lock held past `busy_timeout`, or a write of its own to roll back first: a "hot
    /// journal"): what a tick meets is skipped and tried again, and so is a start, rather than
    /// exiting into restarts that end, after StartLimitBurst, in a failed unit delivering nothing.
    static func openTicketsAtStart(_ store: StoreSettings, progress: TickProgress) throws(StoreError) -> (TicketsDatabase?, StoreError?) {
        do {
            return (try TicketsDatabase(path: store.ticketsDatabase, busyTimeout: store.busyTimeout, progress: progress), nil)
        } catch where error.kind == .busy {
            return (nil, error)
        }
    }

    /// The daemon the notifier asks, by a weak reference: not a closure kept in the `Mutex`.
    /// A closure read back with `withLock { $0 }` was written back wrapped in two more thunks
    /// at each read (swiftlang/swift#91348, in release builds too): 64 bytes of heap and of
    /// stack per delivery, each call walking the whole chain, until the stack overflowed
    /// (measured: a crash after 16,269 deliveries with 1 MB stacks; ~131,000 with 8 MB).
    struct DeliveryPermit: Sendable {
        var isSet = false
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
        let stray = strayRules(config)
        state.withLock { hold(stray, &$0) }
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
    func refreshQueueStatus() async {
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
}
