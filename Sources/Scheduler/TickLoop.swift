import Dispatch
public import Foundation
public import Logging
import Synchronization

/// Runs the tick closure on a `DispatchSourceTimer`, re-armed after every tick from the wall
/// clock (`TickSchedule`), so it never drifts, never overlaps and follows a clock that is set
/// back or forward: the timer and the ticks share
/// one serial queue, so a tick still running when the next is due delays it, and the missed
/// slot is logged and skipped.
///
/// The Dispatch source is owned here with its queue (corelibs sources are not `Sendable`);
/// handlers are `@Sendable` closures that never touch the main actor.
public final class TickLoop: @unchecked Sendable {
    /// What one tick reports back (for logs and `STATUS=`).
    public typealias Tick = @Sendable (_ due: Date) -> Void

    private let queue = DispatchQueue(label: "overdued.tick")
    // Touched only on `queue`.
    private var timer: (any DispatchSourceTimer)?
    private var previousDue: Date?
    private var schedule: TickSchedule
    private var stopped = false
    /// A "check now" waits to run: more of them meanwhile ask for the same tick.
    private let tickNowPending = Atomic<Bool>(false)
    /// Set by `stopping()`, from any queue, before the tick in progress is interrupted.
    private let stopAnnounced = Atomic<Bool>(false)

    private let tick: Tick
    private let now: @Sendable () -> Date
    private let logger: Logger

    public init(schedule: TickSchedule, logger: Logger, now: @escaping @Sendable () -> Date = Date.init, tick: @escaping Tick) {
        self.schedule = schedule
        self.logger = logger
        self.now = now
        self.tick = tick
    }

    /// Starts the loop: with `tickImmediately`, the first tick runs at once, aligned schedule
    /// or not (the daemon's first tick at start-up); otherwise at the schedule's next slot.
    public func start(tickImmediately: Bool = true) {
        queue.async { [self] in
            if tickImmediately {
                runTick(due: now())
            } else {
                arm()
            }
        }
    }

    /// Runs a tick now (SIGUSR1, "check now"), after any tick in progress. Asked again before
    /// that tick starts, it is the same tick: a burst of signals during a long tick gives one
    /// more, not one each. Returns whether this call asked for a tick (false: one already was).
    @discardableResult
    public func tickNow() -> Bool {
        guard !tickNowPending.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        queue.async { [self] in
            tickNowPending.store(false, ordering: .releasing)
            guard !stopped else { return }
            runTick(due: now())
        }
        return true
    }

    /// A new interval or alignment takes effect from the next tick (reload): unaligned, one
    /// new interval after the last tick was due (at once if that moment has passed, as for a
    /// late tick); aligned, at the next slot of the new interval. Never an extra tick at once
    /// for the change itself (three reloads in a row gave three ticks, and one arriving
    /// during a long tick a second tick right after it).
    public func update(schedule newSchedule: TickSchedule) {
        queue.async { [self] in
            guard newSchedule != schedule else { return }
            schedule = newSchedule
            arm()
        }
    }

    /// Says, from any queue and at once, that the loop is about to stop: a tick in progress
    /// that runs past its interval because the stop interrupted it (or because it is the last)
    /// is no slow tick, and no "skipping" warning is logged for it.
    public func stopping() {
        stopAnnounced.store(true, ordering: .releasing)
    }

    /// No new ticks; waits for a tick in progress to finish. Not from a tick (it would wait for itself).
    public func stop() {
        dispatchPrecondition(condition: .notOnQueue(queue))
        queue.sync {
            stopped = true
            timer?.cancel()
            timer = nil
        }
    }

    private func runTick(due: Date) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !stopped else { return }
        let started = ContinuousClock.now
        tick(due)
        // When it ended by how long it ran from its slot, not by the wall clock: a clock set
        // forward during the tick (or while it was awaited) is no tick that took a day (it
        // warned of 1,440 skipped ticks).
        let finished = due.addingTimeInterval((ContinuousClock.now - started).seconds)
        let skipped = schedule.skippedSlots(due: due, finished: finished)
        if skipped > 0, !stopAnnounced.load(ordering: .acquiring) {
            logger.warning("tick took longer than the interval; skipping \(skipped) tick(s)", metadata: [
                "event": "tick", "skipped": "\(skipped)",
            ])
        }
        previousDue = due
        arm()
    }

    private func arm() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !stopped else { return }
        timer?.cancel()
        let current = now()
        let due = schedule.next(after: previousDue, now: current)
        let source = DispatchSource.makeTimerSource(queue: queue)
        // A monotonic deadline: a wall-clock one is an absolute time of the system clock, and
        // a clock set back by an hour while it waits would hold every tick for that hour. The
        // handler compares the wall clock again (`fire`).
        source.schedule(deadline: .now() + max(0, due.timeIntervalSince(current)), leeway: .milliseconds(50))
        source.setEventHandler { @Sendable [weak self] in
            self?.fire(due: due)
        }
        source.resume()
        timer = source
    }

    private func fire(due: Date) {
        let current = now()
        // Early by the wall clock, which went back while the timer waited out the interval:
        // the tick is due all the same (the interval has passed), for the clock as it is now.
        // Waiting for the next slot of the new clock cost up to one more interval, a tick lost.
        if current < due.addingTimeInterval(-0.5) {
            runTick(due: current)
            return
        }
        // Fired late by more than an interval (the clock went forward; after a suspend the
        // monotonic wait resumes where it was, so it fires up to an interval after the resume):
        // the tick is for now, not for a slot long gone.
        if current.timeIntervalSince(due) > schedule.interval.seconds {
            runTick(due: current)
            return
        }
        runTick(due: due)
    }
}
