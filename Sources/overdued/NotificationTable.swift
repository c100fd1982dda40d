import ArgumentParser
import Foundation
import OverduedConfig
import Scheduler
import Store
import TextEscaping

/// How `history` and `queue` show notifications: destinations by name and host only (a URL's
/// path or query may hold a token).
enum NotificationTable {
    /// The requests marked as leaving (`queue`): under way while a deliverer holds the lock;
    /// otherwise cut off by the end of their process, counted as failed by the next one.
    struct UnderWay {
        var attempts: [String: StartedAttempt]
        var delivering: Bool

        func text(_ started: StartedAttempt) -> String {
            delivering
                ? "under way: attempt \(started.attempt), sent at \(iso(started.startedAt))"
                : "attempt \(started.attempt), sent at \(iso(started.startedAt)), did not end (overdued stopped during it): the next run or once counts it as failed"
        }

        func json(_ started: StartedAttempt?) -> PayloadJSON {
            guard let started else { return .null }
            return ["attempt": .integer(Int64(started.attempt)), "started_at": .string(iso(started.startedAt)), "process_running": .bool(delivering)]
        }
    }

    /// `pauses` (`queue`): each queued notification's JSON says whether its destination's
    /// receiver asked to wait (`paused_by_receiver`); nil (`history`) leaves the key out.
    /// `underWay` (`queue`): and whether a request of it is under way (`attempt_under_way`).
    static func print(_ items: [OverdueNotification], config: Config, outbox: Outbox, json: Bool, withAttempts: Bool,
                      pauses: [String: ReceiverPauseView]? = nil, underWay: UnderWay? = nil) throws {
        let attempts = withAttempts ? try outbox.attempts(notificationIDs: items.map(\.id)) : [:]
        if json {
            var objects: [PayloadJSON] = []
            objects.reserveCapacity(items.count)
            for item in items {
                var members = jsonMembers(item, config: config)
                if let pauses {
                    let queued = item.status.isQueued
                    members.append(.init(key: "paused_by_receiver", value: (queued ? pauses[item.destination]?.json : nil) ?? .null))
                }
                if let underWay {
                    let queued = item.status.isQueued
                    members.append(.init(key: "attempt_under_way", value: underWay.json(queued ? underWay.attempts[item.id] : nil)))
                }
                if withAttempts {
                    let log = (attempts[item.id] ?? []).map { attempt -> PayloadJSON in
                        ["attempt": .integer(Int64(attempt.attempt)), "started_at": .string(iso(attempt.startedAt)),
                         "duration_ms": .integer(Int64(attempt.durationMilliseconds)),
                         "http_status": .optional(attempt.httpStatus.map(Int64.init)), "error": .optional(attempt.error)]
                    }
                    members.append(.init(key: "attempt_log", value: .array(log)))
                }
                objects.append(.object(members))
            }
            Swift.print(PayloadJSON.array(objects).prettyText())
            return
        }
        if items.isEmpty {
            Swift.print("(none)")
            return
        }
        let now = Date()
        for item in items {
            let when = item.deliveredAt ?? item.deadAt ?? item.withdrawnAt ?? item.createdAt
            let status = item.lastHTTPStatus.map { " HTTP \($0)" } ?? ""
            var error = item.status == .delivered ? "" : item.lastError.map { "  \($0)" } ?? ""
            if let held = onHold(item, config) {
                error = "  on hold: \(held)" + (item.lastError.map { " (last error: \($0))" } ?? "")
            } else if item.status.isQueued, let underWay, let started = underWay.attempts[item.id] {
                error = "  \(underWay.text(started))" + (item.lastError.map { " (last error: \($0))" } ?? "")
            } else if item.status.isQueued {
                // When it goes next, from the queue as it is now: the last error's "attempt 2
                // in 1h" was true when it was written, not after the time passed, a requeue or
                // `queue resume`.
                let next = pauses?[item.destination].map { "after its receiver's pause, at \(iso(max($0.until, item.nextAttemptAt)))" }
                    ?? nextAttempt(item.nextAttemptAt, now: now)
                error = "  next attempt \(next)" + (item.lastError.map { " (last error: \($0))" } ?? "")
            }
            Swift.print("\(iso(when))  \(item.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(PrintableText.escaped(item.ticketID)) (#\(item.ticket))  rule \(item.rule)  → \(host(item.destination, config))  attempts \(item.attempts)\(status)  \(item.id)\(error)")
            if withAttempts {
                for attempt in attempts[item.id] ?? [] {
                    Swift.print("    attempt \(attempt.attempt) at \(iso(attempt.startedAt)): \(attempt.httpStatus.map { "HTTP \($0)" } ?? "no response") in \(attempt.durationMilliseconds) ms\(attempt.error.map { " (\($0))" } ?? "")")
                }
            }
        }
    }

    /// "due now", or "at 2026-11-24T15:20:00.000Z (in 12m)".
    static func nextAttempt(_ at: Date, now: Date) -> String {
        guard at > now else { return "due now" }
        return "at \(iso(at)) (in \(DurationText.format(.milliseconds(Int64((at.timeIntervalSince(now) * 1000).rounded(.up))))))"
    }

    static func jsonMembers(_ item: OverdueNotification, config: Config) -> [PayloadJSON.Member] {
        let members: KeyValuePairs<String, PayloadJSON> = [
            "id": .string(item.id), "rule": .string(item.rule), "ticket": .integer(item.ticket), "ticket_id": .string(item.ticketID),
            "destination": .string(item.destination), "destination_host": .string(host(item.destination, config)),
            "status": .string(item.status.rawValue), "attempts": .integer(Int64(item.attempts)),
            "created_at": .string(iso(item.createdAt)), "next_attempt_at": .string(iso(item.nextAttemptAt)),
            "delivered_at": .optional(item.deliveredAt.map(iso)),
            "dead_at": .optional(item.deadAt.map(iso)),
            "withdrawn_at": .optional(item.withdrawnAt.map(iso)),
            "requeued_at": .optional(item.requeuedAt.map(iso)),
            "on_hold": .optional(onHold(item, config)),
            "last_http_status": .optional(item.lastHTTPStatus.map(Int64.init)),
            "last_error": .optional(item.lastError),
        ]
        return members.map { PayloadJSON.Member(key: $0.key, value: $0.value) }
    }

    /// Why a queued notification is not tried, or nil: its destination is no longer in the
    /// config. The daemon does not try it, and its next tick withdraws it; its last retry time
    /// means nothing meanwhile.
    static func onHold(_ item: OverdueNotification, _ config: Config) -> String? {
        guard item.status.isQueued, config.destination(named: item.destination) == nil else { return nil }
        return "destination \(item.destination) is not in the config; not delivered (the daemon's next tick withdraws it)"
    }

    static func host(_ destination: String, _ config: Config) -> String {
        config.destination(named: destination).map { "\(destination) (\($0.redactedURL))" } ?? "\(destination) (no longer configured)"
    }

    /// UTC with milliseconds, rounded as the state database stores them (Foundation's format
    /// style truncates: a stored .123 would show as .122).
    static func iso(_ date: Date) -> String {
        CivilDate.iso8601(date)
    }
}
