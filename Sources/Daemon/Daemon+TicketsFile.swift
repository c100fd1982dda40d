import CProcessMemory
import Dispatch
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Synchronization
import Systemd
import TimeZoneRules

#if canImport(Glibc)
import Glibc
#endif

extension Daemon {
    /// What a tick reads: the tickets database with its cache, or nothing (the tick is skipped,
    /// with this alert for the status line).
    enum TicketsRead {
        case read(TicketsDatabase, TickCache)
        case skip(alert: String)
    }

    /// One look at the tickets database's file before a tick (one `stat` when nothing changed).
    /// A file replaced by a new one, rewritten in place behind SQLite's back, or back after it
    /// was gone, is opened afresh with a new cache. If a replacement cannot be opened, the tick
    /// reads the previous file; otherwise there is no previous content to read (rewritten, or
    /// deleted), so the tick is skipped: a deleted file is warned about once, not read.
    func ticketsToRead(_ current: TicketsDatabase?, _ candidates: TickCache) -> TicketsRead {
        guard let tickets = current else { return firstOpen() }
        let path = tickets.path
        var change = tickets.fileChange()
        if change == .unchanged {
            do {
                if try tickets.schemaChanged() { change = .schemaChanged }
            } catch where error.kind == .busy && !isStopping {
                // Waited `busy_timeout` already: the tick's own read would wait as long again.
                logger.warning("tick skipped, retrying next tick: \(error.description)", metadata: ["event": "tick"])
                return .skip(alert: "skipped: database busy")
            } catch {
                // Anything else (a wait the stop ended too) is said by the tick's own read.
            }
        }
        let (step, lines) = state.withLock { running in
            running.ticketsWatch.look(change, path: path, shmExists: { TicketsDatabase.walIndexExists(path: path) })
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
                sayMissingIndexes(of: reopened, before: tickets.schema)
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
    func firstOpen() -> TicketsRead {
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
                sayMissingIndexes(of: opened, before: nil)
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
    func reopen(_ old: TicketsDatabase) -> Result<(TicketsDatabase, TickCache), StoreError> {
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
    func reopenAfterDamage(_ tickets: TicketsDatabase) -> String {
        switch reopen(tickets) {
        case .success:
            "retrying next tick through a new connection (one whose view went stale can read a sound file as damaged)"
        case .failure(let error):
            "retrying next tick (a new connection could not be opened either: \(error.description))"
        }
    }

    /// A warning when the app's indexes that the rules' reads rely on are missing from a file
    /// just opened (and were there before, or nothing was open): said once, not at each tick.
    func sayMissingIndexes(of tickets: TicketsDatabase, before: TicketSchema?) {
        guard let missing = tickets.schema.missingIndexes, missing != before?.missingIndexes else { return }
        logger.warning("\(tickets.path): \(missing)", metadata: ["event": "tick"])
    }
}
