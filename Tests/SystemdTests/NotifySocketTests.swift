import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessEnvironment {
    /// sd_notify messages read back from a real datagram socket named by `$NOTIFY_SOCKET`.
    @Suite struct NotifySocketTests {
        let receiver: DatagramReceiver

        init() throws {
            receiver = try DatagramReceiver()
        }

        private func connected<T>(_ body: (NotifySocket) throws -> T) rethrows -> T {
            try withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                let socket = NotifySocket()
                return try body(socket)
            }
        }

        @Test func readyArrivesAsOneDatagram() {
            connected { socket in
                #expect(socket.isEnabled)
                #expect(socket.ready() == .sent)
            }
            #expect(receiver.receive() == "READY=1")
        }

        @Test func readyCarriesStatusInTheSameDatagram() {
            connected { socket in
                #expect(socket.ready(status: "config loaded, next tick 14:05") == .sent)
            }
            #expect(receiver.receive() == "READY=1\nSTATUS=config loaded, next tick 14:05")
        }

        @Test func statusIsFoldedIntoOneLine() {
            connected { socket in
                #expect(socket.status("last tick 14:03\n  matches 3\r\n\tqueue\u{0}0\n\n") == .sent)
                #expect(socket.status("plain") == .sent)
                #expect(socket.status("error at dest\u{202E}ab\u{85}c") == .sent)
            }
            #expect(receiver.receive() == "STATUS=last tick 14:03 matches 3 queue 0")
            #expect(receiver.receive() == "STATUS=plain")
            #expect(receiver.receive() == "STATUS=error at dest ab c")
        }

        @Test func watchdogPing() {
            connected { socket in
                #expect(socket.watchdog() == .sent)
            }
            #expect(receiver.receive() == "WATCHDOG=1")
        }

        @Test func reloadingCarriesTheMonotonicClock() throws {
            let before = monotonicMicroseconds()
            connected { socket in
                #expect(socket.reloading() == .sent)
            }
            let after = monotonicMicroseconds()
            let message = try #require(receiver.receive())
            let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
            try #require(lines.count == 2, "got \(message.debugDescription)")
            #expect(lines[0] == "RELOADING=1")
            #expect(lines[1].hasPrefix("MONOTONIC_USEC="))
            let stamp = try #require(UInt64(lines[1].dropFirst("MONOTONIC_USEC=".count)))
            #expect(before <= stamp && stamp <= after, "\(before) <= \(stamp) <= \(after)")
        }

        @Test func stopping() {
            connected { socket in
                #expect(socket.stopping() == .sent)
                #expect(socket.stopping(status: "draining 2 deliveries") == .sent)
            }
            #expect(receiver.receive() == "STOPPING=1")
            #expect(receiver.receive() == "STOPPING=1\nSTATUS=draining 2 deliveries")
        }

        @Test func theEnvironmentSurvivesSoAReloadCanStillNotify() {
            connected { socket in
                #expect(socket.ready() == .sent)
                #expect(getenv("NOTIFY_SOCKET").map { String(cString: $0) } == receiver.path)
                #expect(NotifySocket().isEnabled)
                #expect(socket.reloading() == .sent)
            }
            #expect(receiver.receive() == "READY=1")
            #expect(receiver.receive()?.hasPrefix("RELOADING=1\n") == true)
        }

        @Test func withoutNotifySocketEveryCallIsANoOp() {
            withEnvironment(["NOTIFY_SOCKET": nil]) {
                let socket = NotifySocket()
                #expect(!socket.isEnabled)
                #expect(socket.ready(status: "x") == .disabled)
                #expect(socket.status("x") == .disabled)
                #expect(socket.watchdog() == .disabled)
                #expect(socket.reloading() == .disabled)
                #expect(socket.stopping() == .disabled)
            }
            #expect(receiver.receive(within: 100) == nil)
        }

        @Test func anUnreachableSocketIsReportedNotHidden() {
            withEnvironment(["NOTIFY_SOCKET": receiver.path + ".missing"]) {
                let outcome = NotifySocket().ready()
                guard case .failed(let code) = outcome else {
                    Issue.record("expected a failure, got \(outcome)")
                    return
                }
                #expect(code > 0)
            }
        }

        @Test func watchdogIntervalComesFromWatchdogUsec() {
            withEnvironment(["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": String(getpid())]) {
                let socket = NotifySocket()
                #expect(socket.watchdogInterval == .seconds(20))
                #expect(socket.watchdogPingInterval == .seconds(10))
                #expect(getenv("WATCHDOG_USEC") != nil, "the environment must stay for a reload")
            }
        }

        @Test func watchdogMeantForAnotherProcessIsIgnored() {
            withEnvironment(["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": String(getpid() + 1)]) {
                #expect(NotifySocket().watchdogInterval == nil)
            }
            withEnvironment(["WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
                #expect(NotifySocket().watchdogInterval == nil)
                #expect(NotifySocket().watchdogPingInterval == nil)
            }
        }
    }
}
