import Foundation
import OverduedConfig
import Scheduler
import Store
import Testing

/// The dedup decision over simulated time: `now` is a parameter, nothing sleeps.
struct DedupDecisionTests {
    let t0 = Instants.now
    func at(hours: Double) -> Date { t0.addingTimeInterval(hours * 3_600) }

    static func ticket(scheduledDate: String = "2026-11-20 08:00:00", assignedTo: Int64? = 1, status: String = "received",
                       priority: String = "high", detectedAt: Date = Instants.now, ticketID: String = "IGP-2026-0042") -> TicketSnapshot {
        TicketSnapshot(rule: "old-rule", ticket: 42, ticketID: ticketID, title: "Fuite d'huile", description: "",
                       status: status, priority: priority, machine: nil, assignedTo: assignedTo, assigneeName: "Marie",
                       reportedBy: 2, reporterName: "Luc", createdAt: "2026-11-01 12:00:00", scheduledDate: scheduledDate,
                       dueAt: Instants.now.addingTimeInterval(-86_400), isMachineDown: false, detectedAt: detectedAt)
    }

    /// The app's database restored from a backup hands ticket 42's id to a new ticket: the
    /// record under 42 is not its own, whatever the policy and however recent.
    @Test(arguments: [RepeatSpec(), RepeatSpec(oncePerScheduledDate: true), RepeatSpec(onChange: [.assignedTo])])
    func aRecordOfAnotherTicketUnderTheSameIDDoesNotSuppress(policy: RepeatSpec) {
        let previous = DedupDecision.record(rule: "old-rule", ticket: Self.ticket(), at: t0)
        let newcomer = Self.ticket(ticketID: "IGP-2026-0043")
        let decision = DedupDecision.decide(policy: policy, ticket: newcomer, previous: previous,
                                            notifiedDates: ["2026-11-20 08:00:00"], now: at(hours: 1))
        #expect(decision == .notify(.anotherTicket(notified: "IGP-2026-0042")))
        #expect(decision.reason.contains("IGP-2026-0042"))
        #expect(!decision.isHeldBackByQueued, "the queued one is the other ticket's")
        let own = DedupDecision.record(rule: "old-rule", ticket: newcomer, at: at(hours: 1))
        #expect(own.ticketID == "IGP-2026-0043")
        #expect(!DedupDecision.decide(policy: policy, ticket: newcomer, previous: own, now: at(hours: 2)).shouldNotify)
    }

    /// Not another ticket: a record without a human id (imported, older), a row without one
    /// (`#<id>` on either side), or the same id with its spaces dropped or its case changed.
    @Test(arguments: [(nil, "IGP-2026-0042"), ("#42", "IGP-2026-0042"), ("IGP-2026-0042", "#42"),
                      ("IGP-MOT-X 12-20240105-001", "igp-mot-x12-20240105-001")] as [(String?, String)])
    func aRecordWithoutAHumanIDOrWithTheSameOneSuppresses(recorded: String?, current: String) {
        var previous = DedupDecision.record(rule: "old-rule", ticket: Self.ticket(), at: t0)
        previous.ticketID = recorded
        let decision = DedupDecision.decide(policy: RepeatSpec(), ticket: Self.ticket(ticketID: current), previous: previous,
                                            now: at(hours: 1))
        #expect(!decision.shouldNotify, "\(decision.reason)")
    }

    @Test func theFirstOverdueScanNotifies() {
        let decision = DedupDecision.decide(policy: RepeatSpec(), ticket: Self.ticket(), previous: nil, now: t0)
        #expect(decision.shouldNotify)
        #expect(!decision.reason.isEmpty)
    }

    /// Without a dedup state (a withdrawal took it back, the notifications before it pruned
    /// from the history), a date notified before is still not new.
    @Test func aDateNotifiedBeforeIsNotNewWithoutADedupState() {
        let policy = RepeatSpec(oncePerScheduledDate: true)
        let again = DedupDecision.decide(policy: policy, ticket: Self.ticket(), previous: nil,
                                         notifiedDates: ["2026-11-20 08:00:00"], now: t0)
        #expect(!again.shouldNotify && again.reason.contains("already notified for scheduled_date"), "\(again)")
        #expect(DedupDecision.decide(policy: policy, ticket: Self.ticket(), previous: nil, notifiedDates: ["2026-11-19 08:00:00"], now: t0).shouldNotify)
    }

    @Test func everyDefaultsToOncePerDay() throws {
        let policy = RepeatSpec()
        #expect(policy.every == .seconds(86_400))
        let ticket = Self.ticket()
        let previous = DedupDecision.record(rule: "old-rule", ticket: ticket, at: t0)
        #expect(previous.lastNotifiedAt == t0)
        #expect(previous.scheduledDate == ticket.scheduledDate)
        #expect(previous.assignedTo == 1)

        let oneHourLater = DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: at(hours: 1))
        #expect(!oneHourLater.shouldNotify)
        #expect(oneHourLater.reason.contains("repeat.every"), "\(oneHourLater.reason)")
        #expect(oneHourLater.reason.contains("1h"), "says how long ago: \(oneHourLater.reason)")

        let justBefore = DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: at(hours: 24).addingTimeInterval(-1))
        #expect(!justBefore.shouldNotify)

        let aDayLater = DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: at(hours: 24))
        #expect(aDayLater.shouldNotify, "\(aDayLater)")
        #expect(aDayLater.reason.contains("repeat.every"))
    }

    @Test func aLastNotificationDatedInTheFutureMeansTheClockWasSetBack() {
        let ticket = Self.ticket()
        // Recorded a year ahead (a clock set back since): it may have gone out a moment ago,
        // so it is no notification now (that sent it again under a new webhook-id), and the
        // scan counts it as notified now (waiting for the date would take a year).
        let ahead = DedupDecision.record(rule: "old-rule", ticket: ticket, at: at(hours: 24 * 365))
        let decision = DedupDecision.decide(policy: RepeatSpec(), ticket: ticket, previous: ahead, now: t0)
        #expect(decision == .suppress(.notifiedInTheFuture(at(hours: 24 * 365))))
        #expect(decision.reason.contains("clock was set back since; counted as notified now"), "\(decision.reason)")
        // A change still notifies at once, as at any other time.
        let moved = DedupDecision.decide(policy: RepeatSpec(onChange: [.assignedTo]), ticket: Self.ticket(assignedTo: 99),
                                         previous: ahead, now: t0)
        #expect(moved == .notify(.changed(.assignedTo)))
        // A few minutes ahead is clock jitter: still within the period.
        let jitter = DedupDecision.record(rule: "old-rule", ticket: ticket, at: t0.addingTimeInterval(120))
        #expect(!DedupDecision.decide(policy: RepeatSpec(), ticket: ticket, previous: jitter, now: t0).shouldNotify)
    }

    /// A scan with a `--now` before the last notification (an operator replaying a past
    /// day) is not a clock set back: it notifies nothing again, whatever the policy (a change
    /// included), and so never dates the record back for the next real tick to notify again.
    @Test func aScanAtAnEarlierInstantThanTheLastNotificationSuppresses() {
        let ticket = Self.ticket()
        let later = DedupDecision.record(rule: "old-rule", ticket: ticket, at: at(hours: 24 * 27))
        for policy in [RepeatSpec(), RepeatSpec(oncePerScheduledDate: true), RepeatSpec(onChange: [.assignedTo])] {
            let changed = Self.ticket(assignedTo: 99)
            let decision = DedupDecision.decide(policy: policy, ticket: changed, previous: later, now: t0, atMachineClock: false)
            #expect(decision == .suppress(.notifiedAfterNow(at(hours: 24 * 27))), "\(policy)")
            #expect(decision.reason.contains("after --now"), "\(decision.reason)")
        }
        #expect(DedupDecision.decide(policy: RepeatSpec(), ticket: ticket, previous: later, now: t0) == .suppress(.notifiedInTheFuture(at(hours: 24 * 27))),
                "at the machine's clock: a clock set back")
    }

    @Test func threeDaysOfFiveMinuteTicksNotifyOncePerDay() {
        // A tick every 5 minutes for three days; the decision's own record is kept after each
        // notification, as a committing scan does.
        let policy = RepeatSpec()
        let ticket = Self.ticket()
        var previous: DedupRecord?
        var notifiedAt: [Double] = []
        for tick in 0...(3 * 24 * 12) {
            let now = t0.addingTimeInterval(Double(tick) * 300)
            let decision = DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: now)
            if decision.shouldNotify {
                notifiedAt.append(now.timeIntervalSince(t0) / 3_600)
                previous = DedupDecision.record(rule: "old-rule", ticket: ticket, at: now)
            } else {
                #expect(!decision.reason.isEmpty)
            }
        }
        #expect(notifiedAt == [0, 24, 48, 72])
    }

    @Test func oncePerScheduledDateSuppressesTheSameDateForever() {
        let policy = RepeatSpec(oncePerScheduledDate: true)
        let ticket = Self.ticket()
        let previous = DedupDecision.record(rule: "old-rule", ticket: ticket, at: t0)
        for hours: Double in [0.1, 1, 24, 24 * 30, 24 * 365] {
            let decision = DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: at(hours: hours))
            #expect(!decision.shouldNotify, "after \(hours) h")
            #expect(decision.reason.contains("once_per_scheduled_date"))
            #expect(decision.reason.contains("2026-11-20 08:00:00"))
        }
        let rescheduled = Self.ticket(scheduledDate: "2026-11-23 08:00:00")
        let decision = DedupDecision.decide(policy: policy, ticket: rescheduled, previous: previous, now: at(hours: 0.1))
        #expect(decision.shouldNotify, "a new date is a new deadline, whatever `every` says")
        #expect(decision.reason.contains("scheduled_date"))
    }

    @Test(arguments: [
        (ChangeField.assignedTo, DedupDecisionTests.ticket(assignedTo: 0)),
        (ChangeField.assignedTo, DedupDecisionTests.ticket(assignedTo: nil)),
        (ChangeField.scheduledDate, DedupDecisionTests.ticket(scheduledDate: "2026-11-21 08:00:00")),
        (ChangeField.status, DedupDecisionTests.ticket(status: "diagnostic")),
        (ChangeField.priority, DedupDecisionTests.ticket(priority: "critical")),
    ])
    func aWatchedChangeReArmsAtOnce(field: ChangeField, changed: TicketSnapshot) {
        let previous = DedupDecision.record(rule: "old-rule", ticket: Self.ticket(), at: t0)
        let watching = DedupDecision.decide(policy: RepeatSpec(onChange: [field]), ticket: changed, previous: previous,
                                            now: at(hours: 0.5))
        #expect(watching.shouldNotify)
        #expect(watching.reason.contains(field.rawValue))

        // Unwatched, the same change waits for `every`.
        let others = ChangeField.allCases.filter { $0 != field }
        let notWatching = DedupDecision.decide(policy: RepeatSpec(onChange: others), ticket: changed, previous: previous,
                                               now: at(hours: 0.5))
        #expect(!notWatching.shouldNotify)
        #expect(!notWatching.reason.isEmpty)
    }

    @Test func onChangeWithoutAChangeStillRespectsEvery() {
        let ticket = Self.ticket()
        let previous = DedupDecision.record(rule: "old-rule", ticket: ticket, at: t0)
        let policy = RepeatSpec(every: .seconds(3_600), onChange: ChangeField.allCases)
        #expect(!DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: at(hours: 0.5)).shouldNotify)
        #expect(DedupDecision.decide(policy: policy, ticket: ticket, previous: previous, now: at(hours: 1)).shouldNotify)
    }

    @Test func onChangeReArmsEvenUnderOncePerScheduledDate() {
        let previous = DedupDecision.record(rule: "old-rule", ticket: Self.ticket(), at: t0)
        let policy = RepeatSpec(oncePerScheduledDate: true, onChange: [.assignedTo])
        #expect(DedupDecision.decide(policy: policy, ticket: Self.ticket(assignedTo: 2), previous: previous, now: at(hours: 1)).shouldNotify)
        #expect(!DedupDecision.decide(policy: policy, ticket: Self.ticket(), previous: previous, now: at(hours: 1)).shouldNotify)
    }

    @Test func aLegacyRecordWithoutFieldsCountsAsNotifiedAtItsTime() {
        // Imported from the app's webhook_notifications: only the time (and maybe the date) is known.
        let legacy = DedupRecord(rule: "old-rule", ticket: 42, lastNotifiedAt: t0, scheduledDate: nil, assignedTo: nil,
                                 status: nil, priority: nil, source: "legacy")
        #expect(!DedupDecision.decide(policy: RepeatSpec(), ticket: Self.ticket(), previous: legacy, now: at(hours: 2)).shouldNotify)
        #expect(DedupDecision.decide(policy: RepeatSpec(), ticket: Self.ticket(), previous: legacy, now: at(hours: 24)).shouldNotify)
    }
}
