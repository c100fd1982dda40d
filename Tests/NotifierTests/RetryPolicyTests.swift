import AsyncHTTPClient
import NIOCore
import Foundation
@testable import Notifier
import OverduedConfig
import Store
import Synchronization
import Testing

@Suite struct RetryPolicyTests {
    static let queuedAt = Date(timeIntervalSince1970: 1_800_000_000)
    static let now = queuedAt.addingTimeInterval(60)
    static let spec = RetrySpec(maxAttempts: 10, initialBackoff: .seconds(5), maxBackoff: .seconds(1_800), giveUpAfter: .seconds(86_400))
    /// Jitter pinned at its ceiling, so delays are predictable.
    static let policy = RetryPolicy(spec: spec, jitter: { $0 })

    enum Expected: Sendable {
        case delivered, retry(after: TimeInterval), dead
    }

    static let table: [(AttemptResult, Int, Expected)] = [
        (.response(status: 200, retryAfter: nil), 1, .delivered),
        (.response(status: 204, retryAfter: "120"), 3, .delivered),
        (.response(status: 500, retryAfter: nil), 1, .retry(after: 5)),
        (.response(status: 502, retryAfter: nil), 2, .retry(after: 10)),
        (.response(status: 503, retryAfter: nil), 4, .retry(after: 40)),
        (.response(status: 503, retryAfter: nil), 9, .retry(after: 1_280)),
        (.response(status: 500, retryAfter: nil), 10, .dead),            // max_attempts reached
        (.response(status: 408, retryAfter: nil), 1, .retry(after: 5)),
        (.response(status: 429, retryAfter: "7"), 1, .retry(after: 7)),  // Retry-After wins
        (.response(status: 503, retryAfter: "0"), 6, .retry(after: 1)),  // clamped up to 1 s
        (.response(status: 503, retryAfter: "999999"), 1, .dead),        // 24 h clamp, past give_up_after
        (.response(status: 503, retryAfter: "Fri, 15 Jan 2027 08:02:00 GMT"), 1, .retry(after: 60)),
        (.response(status: 410, retryAfter: nil), 1, .dead),
        (.response(status: 400, retryAfter: nil), 1, .dead),
        (.response(status: 404, retryAfter: "5"), 1, .dead),
        (.response(status: 301, retryAfter: nil), 1, .dead),
        (.failure(TransportFailure(.timeout, "timeout")), 1, .retry(after: 5)),
        (.failure(TransportFailure(.connection, "refused")), 2, .retry(after: 10)),
        (.failure(TransportFailure(.invalidRequest, "bad url")), 1, .dead),
    ]

    @Test(arguments: table.indices)
    func decision(row: Int) {
        let (result, attempt, expected) = Self.table[row]
        let decision = Self.policy.decide(result, attempt: attempt, budget: RetryBudget(queuedAt: Self.queuedAt), now: Self.now)
        #expect(!decision.reason.isEmpty)
        switch (expected, decision.verdict) {
        case (.delivered, .delivered), (.dead, .dead):
            break
        case (.retry(let after), .retry(let at, let delay)):
            #expect(abs(at.timeIntervalSince(Self.now) - after) < 0.001, "\(decision.reason)")
            #expect(abs(delay.seconds - after) < 0.001)
        default:
            Issue.record("row \(row): expected \(expected), got \(decision.verdict) (\(decision.reason))")
        }
    }

    /// A 3xx is dead at once; only a redirect is called one (a 304 is not).
    @Test func threeHundredsSayWhatTheyAre() {
        func reason(_ status: Int) -> String {
            Self.policy.decide(.response(status: status, retryAfter: nil), attempt: 1, budget: RetryBudget(queuedAt: Self.queuedAt),
                               now: Self.now).reason
        }
        #expect(reason(302) == "HTTP 302: redirects are not followed; configure the final URL")
        #expect(reason(304) == "HTTP 304: \"not modified\" is no answer to a POST; the receiver would answer it again")
    }

    /// A clamped Retry-After is told as clamped: the operator comparing with the receiver's
    /// log sees why the wait differs from what it asked.
    @Test func aClampedRetryAfterSaysSo() {
        let budget = RetryBudget(queuedAt: Self.queuedAt)
        let long = RetryPolicy(spec: RetrySpec(maxAttempts: 10, initialBackoff: .seconds(5), maxBackoff: .seconds(1_800),
                                               giveUpAfter: .seconds(7 * 86_400)), jitter: { $0 })
        func reason(_ header: String) -> String {
            long.decide(.response(status: 429, retryAfter: header), attempt: 1, budget: budget, now: Self.now).reason
        }
        #expect(reason("7").hasSuffix("attempt 2 in 7s (as Retry-After asks)"), "\(reason("7"))")
        #expect(reason("0").hasSuffix("attempt 2 in 1s (Retry-After asks for less than 1s, the least waited)"), "\(reason("0"))")
        #expect(reason("90000").hasSuffix("attempt 2 in 1d (Retry-After asks for 1d1h, more than 1d, the most waited)"), "\(reason("90000"))")
        // Any number a receiver can send is told, not trapped on: past Int64 milliseconds
        // (9.3e15 s), past Duration's seconds (1.7e20 s), and a digit string Double reads as
        // infinity.
        for header in ["9300000000000000", "100000000000000000000000", String(repeating: "9", count: 400)] {
            #expect(reason(header).hasSuffix("attempt 2 in 1d (Retry-After asks for more than 100 years, more than 1d, the most waited)"),
                    "\(reason(header))")
            #expect(RetryPolicy.destinationPause(after: .response(status: 503, retryAfter: header), now: Self.now) == .seconds(86_400))
        }
        // One neither seconds nor an HTTP date is said, beside the backoff that applies (not
        // quoted: a receiver could echo a secret of the request there).
        #expect(reason("2.5").hasSuffix("attempt 2 in 5s (backoff up to 5s; its Retry-After is neither seconds nor an HTTP date)"), "\(reason("2.5"))")
        #expect(!reason("token-secret").contains("token-secret"))
    }

    @Test func backoffIsCappedAndJitterIsFull() {
        #expect(Self.policy.backoffCeiling(attempt: 1) == .seconds(5))
        #expect(Self.policy.backoffCeiling(attempt: 20) == .seconds(1_800))
        #expect(Self.policy.backoffCeiling(attempt: 10_000) == .seconds(1_800))
        let zero = RetryPolicy(spec: Self.spec, jitter: { _ in .zero })
        let decision = zero.decide(.response(status: 500, retryAfter: nil), attempt: 5, budget: RetryBudget(queuedAt: Self.queuedAt), now: Self.now)
        #expect(decision.verdict == .retry(at: Self.now, after: .zero))
        // The default source stays inside 0...ceiling.
        for _ in 0..<200 {
            let delay = RetryPolicy.fullJitter(.seconds(2))
            #expect(delay >= .zero && delay <= .seconds(2))
        }
        // A misbehaving source is clamped.
        let wild = RetryPolicy(spec: Self.spec, jitter: { $0 * 10 })
        #expect(wild.decide(.response(status: 500, retryAfter: nil), attempt: 1, budget: RetryBudget(queuedAt: Self.queuedAt), now: Self.now).verdict
            == .retry(at: Self.now.addingTimeInterval(5), after: .seconds(5)))
    }

    @Test func givesUpWhenTheNextAttemptWouldPassGiveUpAfter() {
        let nearTheEnd = Self.queuedAt.addingTimeInterval(86_400 - 3)
        let decision = Self.policy.decide(.response(status: 500, retryAfter: nil), attempt: 1, budget: RetryBudget(queuedAt: Self.queuedAt), now: nearTheEnd)
        #expect(decision.verdict == .dead)
        #expect(decision.reason.contains("give_up_after"))
        let noLimit = RetryPolicy(spec: RetrySpec(maxAttempts: nil), jitter: { $0 })
        #expect(noLimit.decide(.response(status: 500, retryAfter: nil), attempt: 500, budget: RetryBudget(queuedAt: Self.queuedAt), now: Self.now).verdict
            == .retry(at: Self.now.addingTimeInterval(1_800), after: .seconds(1_800)))
    }

    /// After `queue retry`, max_attempts, give_up_after and the backoff count from the
    /// requeue; the messages give the attempt's number in the notification's life too.
    @Test func aRequeuedNotificationSpendsAFreshBudget() {
        let spec = RetrySpec(maxAttempts: 3, initialBackoff: .seconds(5), maxBackoff: .seconds(1_800), giveUpAfter: .seconds(3_600))
        let policy = RetryPolicy(spec: spec, jitter: { $0 })
        let requeuedAt = Self.queuedAt.addingTimeInterval(5 * 86_400)
        let notification = OverdueNotification(id: "msg_1", rule: "r", ticket: 1, ticketID: "IGP-1", destination: "hook",
                                                snapshot: Data(), status: .retrying, createdAt: Self.queuedAt, attempts: 3,
                                                requeuedAt: requeuedAt, attemptsBeforeRequeue: 3)
        let budget = RetryBudget(of: notification)
        #expect((budget.start, budget.attemptsBefore, budget.isRequeue) == (requeuedAt, 3, true))
        #expect(RetryBudget(of: OverdueNotification(id: "msg_2", rule: "r", ticket: 1, ticketID: "IGP-1", destination: "hook",
                                                    snapshot: Data(), createdAt: Self.queuedAt)) == RetryBudget(queuedAt: Self.queuedAt))
        let now = requeuedAt.addingTimeInterval(60)
        let failed = AttemptResult.response(status: 500, retryAfter: nil)
        let fourth = policy.decide(failed, attempt: 4, budget: budget, now: now)
        #expect(fourth.verdict == .retry(at: now.addingTimeInterval(5), after: .seconds(5)), "the backoff starts again")
        #expect(fourth.reason.contains("attempt 5 in 5s"), "\(fourth.reason)")
        let sixth = policy.decide(failed, attempt: 6, budget: budget, now: now)
        #expect(sixth.verdict == .dead)
        #expect(sixth.reason.contains("gave up after 3 attempt(s) since it was requeued (6 in all) (retry.max_attempts = 3)"), "\(sixth.reason)")
        let late = policy.decide(failed, attempt: 4, budget: budget, now: requeuedAt.addingTimeInterval(3_598))
        #expect(late.verdict == .dead)
        #expect(late.reason.contains("more than 1h after it was requeued"), "\(late.reason)")
    }

    @Test func retryAfterForms() {
        let now = Date(timeIntervalSince1970: 784_111_777) // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.delay("120", now: now) == 120)
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:51:37 GMT", now: now) == 120)
        #expect(RetryAfter.delay("Sunday, 06-Nov-94 08:50:37 GMT", now: now) == 60)
        #expect(RetryAfter.delay("Sun Nov  6 08:49:47 1994", now: now) == 10)
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:00:00 GMT", now: now) == 0)
        #expect(RetryAfter.delay("soon", now: now) == nil)
        #expect(RetryAfter.delay("-5", now: now) == nil)
        // Read by hand: Foundation's DateFormatter trapped on this one (fuzzing), and took
        // other zones, other digits and five-digit years.
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 \u{0E33}", now: now) == nil)
        #expect(RetryAfter.onReceiversClock("Sun, 06 Nov 1994 08:51:37 GMT", responseDate: "Sun, 06 Nov 1994 08:49:37 \u{0E33}")
                == "Sun, 06 Nov 1994 08:51:37 GMT")
        for odd in ["Sun, 06 Nov 1994 08:51:37 PST", "Sun, 06 Nov 19994 08:51:37 GMT", "Sun, 0\u{0966}6 Nov 1994 08:51:37 GMT",
                    "Sun, 31 Nov 1994 08:51:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nox 1994 08:51:37 GMT",
                    "Sun, 06 Nov 1994 8:51:37 GMT", "Sunday, 06-Nov-1994 08:51:37 GMT", "Sun Nov  6 08:49:47 94", ", 06 Nov 1994 08:51:37 GMT"] {
            #expect(RetryAfter.delay(odd, now: now) == nil, "\(odd)")
        }
        #expect(RetryAfter.delay("Mon, 29 Feb 2027 00:00:00 GMT", now: now) == nil, "not a leap year")
        #expect(RetryAfter.delay("Thu, 29 Feb 2024 00:00:00 GMT", now: Date(timeIntervalSince1970: 1_709_164_800 - 30)) == 30)
        // RFC 9110: a two-digit year more than 50 years ahead (of now) is the last past one.
        #expect(RetryAfter.delay("Saturday, 01-Jan-77 00:01:00 GMT", now: Date(timeIntervalSince1970: 220_924_800)) == 60, "77 is 1977")
        #expect(RetryAfter.delay("Wednesday, 01-Jan-70 00:01:00 GMT", now: Date(timeIntervalSince1970: 3_155_760_000)) == 60, "70 is 2070")
        #expect(RetryAfter.delay("Friday, 01-Jan-27 00:00:00 GMT", now: Date(timeIntervalSince1970: 1_798_761_600 - 5)) == 5, "27 is 2027")
        // An HTTP date against the answer's Date: their difference, whatever the clocks say.
        #expect(RetryAfter.onReceiversClock("Sun, 06 Nov 1994 08:51:37 GMT", responseDate: "Sun, 06 Nov 1994 08:49:37 GMT") == "120")
        #expect(RetryAfter.onReceiversClock("Sun, 06 Nov 1994 08:40:00 GMT", responseDate: "Sun, 06 Nov 1994 08:49:37 GMT") == "0")
        // Seconds, no Date, or a Date that cannot be read: the header as it came.
        #expect(RetryAfter.onReceiversClock("120", responseDate: "Sun, 06 Nov 1994 08:49:37 GMT") == "120")
        #expect(RetryAfter.onReceiversClock("Sun, 06 Nov 1994 08:51:37 GMT", responseDate: nil) == "Sun, 06 Nov 1994 08:51:37 GMT")
        #expect(RetryAfter.onReceiversClock("Sun, 06 Nov 1994 08:51:37 GMT", responseDate: "yesterday") == "Sun, 06 Nov 1994 08:51:37 GMT")
    }
}

@Suite struct RateLimitSlotsTests {
    let t0 = ContinuousClock.now

    @Test func spacesFromTheLaterOfSentAndFinished() throws {
        var slots = RateLimitSlots(minInterval: .milliseconds(200))
        #expect(slots.earliestStart(now: t0) == t0)
        let first = slots.start(at: t0)
        // Not yet written: the next one waits, whatever the time.
        #expect(slots.earliestStart(now: t0 + .seconds(5)) == nil)
        slots.sent(ticket: first, at: t0 + .milliseconds(7))
        #expect(slots.earliestStart(now: t0 + .milliseconds(10)) == t0 + .milliseconds(207))
        slots.finished(ticket: first, at: t0 + .milliseconds(50))
        #expect(slots.earliestStart(now: t0 + .milliseconds(60)) == t0 + .milliseconds(250))
        #expect(slots.earliestStart(now: t0 + .seconds(1)) == t0 + .seconds(1))
    }

    @Test func olderRequestsDoNotMoveTheAnchor() {
        var slots = RateLimitSlots(minInterval: .milliseconds(100))
        let a = slots.start(at: t0)
        slots.sent(ticket: a, at: t0 + .milliseconds(1))
        let b = slots.start(at: t0 + .milliseconds(101))
        slots.sent(ticket: b, at: t0 + .milliseconds(102))
        slots.finished(ticket: a, at: t0 + .milliseconds(500)) // a slow older request ends late
        #expect(slots.earliestStart(now: t0 + .milliseconds(150)) == t0 + .milliseconds(202))
    }

    /// A ticket taken for a notification that was then not sent (withdrawn meanwhile) gives
    /// its slot back: the next request is spaced from the last one really made.
    @Test func anUnusedTicketGivesItsSlotBack() {
        var slots = RateLimitSlots(minInterval: .seconds(2))
        let sent = slots.start(at: t0)
        slots.finished(ticket: sent, at: t0 + .milliseconds(10))
        let unused = slots.start(at: t0 + .seconds(2) + .milliseconds(10))
        slots.unused(ticket: unused)
        #expect(slots.earliestStart(now: t0 + .seconds(2) + .milliseconds(11)) == t0 + .seconds(2) + .milliseconds(11))
        // Only the latest ticket, and only before its request was written.
        let written = slots.start(at: t0 + .seconds(3))
        slots.sent(ticket: written, at: t0 + .seconds(3))
        slots.unused(ticket: written)
        #expect(slots.earliestStart(now: t0 + .seconds(3)) == t0 + .seconds(5))
    }

    /// `min_interval` raised from "0ms" by a reload while requests go: the next one is spaced
    /// from the last one made under the old interval (the reload audit saw it 50 ms after it).
    @Test func anIntervalRaisedFromZeroSpacesFromTheLastRequest() {
        var slots = RateLimitSlots(minInterval: .zero)
        let last = slots.start(at: t0)
        #expect(slots.earliestStart(now: t0) == t0, "no wait at zero, even before the request is written")
        slots.sent(ticket: last, at: t0 + .milliseconds(5))
        slots.finished(ticket: last, at: t0 + .milliseconds(50))
        slots.minInterval = .milliseconds(200)
        #expect(slots.earliestStart(now: t0 + .milliseconds(60)) == t0 + .milliseconds(250))
    }

    @Test func zeroIntervalNeverWaits() {
        var slots = RateLimitSlots(minInterval: .zero)
        for step in 0..<10 {
            let now = t0 + .milliseconds(step)
            #expect(slots.earliestStart(now: now) == now)
            _ = slots.start(at: now)
        }
    }

    @Test func asyncLimiterSpacesAcquisitions() async throws {
        let limiter = RateLimiter(minInterval: .milliseconds(50))
        var starts: [ContinuousClock.Instant] = []
        for _ in 0..<4 {
            let ticket = try #require(await limiter.acquire(minInterval: { .milliseconds(50) }))
            starts.append(.now)
            await limiter.finished(ticket: ticket, at: .now)
        }
        for (a, b) in zip(starts, starts.dropFirst()) {
            #expect(b - a >= .milliseconds(50))
        }
    }

    /// A reload that lowers `min_interval` reaches the request already waiting for its slot:
    /// with a minute's interval, it would otherwise wait out the old minute.
    @Test func aLoweredIntervalReachesTheRequestWaiting() async throws {
        let limiter = RateLimiter(minInterval: .seconds(60))
        let interval = Mutex<Duration>(.seconds(60))
        let first = try #require(await limiter.acquire(minInterval: { interval.withLock { $0 } }))
        await limiter.finished(ticket: first, at: .now)
        let started = ContinuousClock.now
        async let second = limiter.acquire(minInterval: { interval.withLock { $0 } })
        try await Task.sleep(for: .milliseconds(300))
        interval.withLock { $0 = .milliseconds(100) }
        #expect(await second != nil)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(300) && waited < .seconds(30), "waited \(waited)")
    }
}

/// Which answers pause a whole destination, and for how long.
struct DestinationPauseTests {
    @Test func onlyA429Or503WithRetryAfterPausesTheDestination() {
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        func pause(_ status: Int, _ header: String?) -> Duration? {
            RetryPolicy.destinationPause(after: .response(status: status, retryAfter: header), now: now)
        }
        #expect(pause(429, "120") == .seconds(120))
        #expect(pause(503, "Wed, 18 Nov 2026 20:13:20 GMT").map { $0 > .zero } == true)
        #expect(pause(429, "0") == .seconds(1), "clamped to at least 1 s")
        #expect(pause(503, "31536000") == .seconds(86_400), "clamped to 24 h")
        #expect(pause(429, nil) == nil)
        #expect(pause(429, "soon") == nil)
        #expect(pause(500, "120") == nil)
        #expect(RetryPolicy.destinationPause(after: .failure(TransportFailure(.timeout, "t")), now: now) == nil)
    }

    /// A pause read back at start: what is left of it, for the receiver that asked; a clock
    /// set back since never makes it longer than the receiver asked, nor than 24 h.
    @Test func aRecordedPauseHoldsForWhatIsLeftOfIt() {
        let setAt = Date(timeIntervalSince1970: 1_795_000_000)
        let receiver = "https://hooks.example.com"
        let pause = ReceiverPause(destination: "hook", until: setAt.addingTimeInterval(120), httpStatus: 503, setAt: setAt, receiver: receiver)
        #expect(RetryPolicy.recordedPause(pause, receiver: receiver, now: setAt.addingTimeInterval(20))
            == .holds(until: pause.until, left: .seconds(100)))
        #expect(RetryPolicy.recordedPause(pause, receiver: receiver, now: pause.until) == .ended)
        #expect(RetryPolicy.recordedPause(pause, receiver: receiver, now: setAt.addingTimeInterval(500)) == .ended)
        #expect(RetryPolicy.recordedPause(pause, receiver: "https://hooks.example.com:8443", now: setAt) == .otherReceiver)
        // The clock was set back an hour after the answer: 120 s from now, not an hour and 120 s.
        let setBack = setAt.addingTimeInterval(-3_600)
        #expect(RetryPolicy.recordedPause(pause, receiver: receiver, now: setBack)
            == .holds(until: setBack.addingTimeInterval(120), left: .seconds(120)))
        // A row no overdued wrote (an end days after it was set): 24 h at most.
        var edited = pause
        edited.until = setAt.addingTimeInterval(10 * 86_400)
        #expect(RetryPolicy.recordedPause(edited, receiver: receiver, now: setAt)
            == .holds(until: setAt.addingTimeInterval(86_400), left: .seconds(86_400)))
    }
}

/// How transport errors are told in records and logs.
struct TransportFailureTests {
    @Test func aHeaderTheClientRefusesIsNamedWithoutItsValueAndNotRetried() throws {
        let destination = try Fixtures.destination(url: "http://127.0.0.1:9/hooks/secret-token?key=abc")
        let failure = WebhookTransport.failure(HTTPClientError.invalidHeaderFieldValues(["Bearer SECRETCTRL\u{01}x"]),
                                               timeout: .seconds(1), destination: destination)
        #expect(failure.kind == .invalidRequest)
        #expect(!failure.message.contains("SECRETCTRL"), "\(failure.message)")
        #expect(failure.message.contains("header"), "\(failure.message)")
    }

    /// This process out of file descriptors is no failure of the receiver: it was counted as
    /// an attempt, and healthy notifications were given up (81 of 150 in 5 s with `ulimit -n
    /// 64` and a concurrency of 100). Its own kind, which the worker neither records nor counts.
    @Test func runningOutOfDescriptorsIsALocalConditionNotAnAttempt() throws {
        let destination = try Fixtures.destination(url: "http://127.0.0.1:9/hooks/secret-token")
        for code in [EMFILE, ENFILE] {
            let failure = WebhookTransport.failure(IOError(errnoCode: code, reason: "socket"), timeout: .seconds(1), destination: destination)
            #expect(failure.kind == .localResources)
            #expect(failure.message.hasPrefix("this process has no file descriptor left for the request's socket ("), "\(failure.message)")
            let decision = RetryPolicyTests.policy.decide(.failure(failure), attempt: 1, budget: RetryBudget(queuedAt: RetryPolicyTests.queuedAt), now: RetryPolicyTests.now)
            #expect(decision.verdict == .retry(at: RetryPolicyTests.now, after: .zero))
        }
        let refused = WebhookTransport.failure(IOError(errnoCode: ECONNREFUSED, reason: "connect"), timeout: .seconds(1), destination: destination)
        #expect(refused.kind == .connection)
    }
}
