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
    /// Between ticks the daemon mostly waits: SQLite's page caches and the heap the tick
    /// grew are given back (glibc keeps freed memory otherwise).
    func releaseMemory(tickets: TicketsDatabase?) {
        tickets?.releaseMemory()
        outbox.database.releaseMemory()
        _ = overdued_release_free_heap()
    }

    /// A `tzdata` upgrade rewrites the zone's file under the running daemon: its new rules
    /// apply from this tick on, without a reload (one `stat` a tick when nothing changed).
    func refreshZoneRules() {
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
    func tick(due: Date) {
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
        if !superseded { releaseHeldRules(evaluated: generation) }
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
    typealias TickSummary = (matches: Int, enqueued: Int, reused: Int, unchangedSince: Date?, withdrawn: Int)

    /// Evaluates every rule on `tickets`, enqueues what they decide and wakes the notifier.
    func evaluate(tickets: TicketsDatabase, engine: RulesEngine, cache: TickCache, due: Date) throws(StoreError) -> TickSummary {
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
    func pruneHistoryIfDue(now: Date) {
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

    func logBadRows(_ rows: [BadRow], complete: Bool) {
        let fresh = state.withLock { $0.badRowWarnings.fresh(rows, complete: complete) }
        for row in fresh { ScanLog.badRow(row, to: logger) }
    }
}
