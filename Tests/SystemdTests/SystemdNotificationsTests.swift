import Dispatch
import Foundation
import Logging
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ProcessEnvironment {
    /// `STOPPING=1` is the last message the manager gets, however many threads were sending.
    @Suite struct SystemdNotificationsTests {
        @Test func nothingFollowsStopping() throws {
            let receiver = try DatagramReceiver()
            var messages: [String] = []
            withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                let manager = SystemdNotifications()
                manager.ready(status: "started")
                // Three threads send as fast as they can while a fourth sends the stop among
                // them. This thread reads meanwhile: a datagram socket holds only a few
                // unread messages (net.unix.max_dgram_qlen), and a sender waits when it is full.
                let senders = DispatchGroup()
                for thread in 0..<4 {
                    DispatchQueue.global().async(group: senders) {
                        if thread == 3 {
                            usleep(2_000)
                            manager.stopping(status: "stopping")
                            return
                        }
                        for round in 0..<300 {
                            switch round % 4 {
                            case 0: manager.status("tick \(thread).\(round)")
                            case 1: manager.watchdog()
                            case 2: manager.reloading()
                            default: manager.ready(status: "reloaded \(thread).\(round)")
                            }
                        }
                    }
                }
                while senders.wait(timeout: .now()) == .timedOut {
                    if let message = receiver.receive(within: 10) { messages.append(message) }
                }
                manager.status("after the stop")
                manager.ready(status: "after the stop")
            }
            while let message = receiver.receive(within: 200) { messages.append(message) }
            let stopping = messages.firstIndex { $0.hasPrefix("STOPPING=1") }
            #expect(stopping != nil, "\(messages.count) messages, none STOPPING=1")
            if let stopping {
                #expect(stopping == messages.count - 1, "after STOPPING=1: \(messages[(stopping + 1)...].prefix(3))")
                #expect(stopping > 1, "the others sent before it")
            }
        }

        /// A message the manager did not get is logged once for its kind, and again when one
        /// of that kind gets through: pings that fail under `WatchdogSec=` end in a kill, and
        /// the journal says why before it.
        @Test func aFailedSendIsLoggedOnceForItsKindAndItsRecoveryToo() throws {
            let receiver = try DatagramReceiver()
            let log = try TemporaryFile()
            let logger = Logger(label: "test") { _ in StderrLogHandler(logLevel: .notice, fileDescriptor: log.descriptor) }
            let manager = withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                let manager = SystemdNotifications(logger: logger)
                manager.watchdog()
                return manager
            }
            #expect(receiver.receive(within: 200) == "WATCHDOG=1")
            // sd_notify reads $NOTIFY_SOCKET at each call: a path nobody listens on fails.
            withEnvironment(["NOTIFY_SOCKET": receiver.path + ".gone"]) {
                manager.watchdog()
                manager.watchdog()
                manager.status("queue 3")
                manager.watchdog()
            }
            withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                manager.watchdog()
                manager.watchdog()
            }
            var received: [String] = []
            while let message = receiver.receive(within: 200) { received.append(message) }
            #expect(received == ["WATCHDOG=1", "WATCHDOG=1"])
            // (The stderr handler writes an `=` inside a word as `\u{3D}`: a message cannot forge a field.)
            let lines = try log.lines().map { $0.replacingOccurrences(of: "\\u{3D}", with: "=") }
            #expect(lines.count == 3, "\(lines)")
            #expect(lines.first?.contains("could not send WATCHDOG=1 to the service manager: No such file or directory (errno 2); systemd stops the service") == true,
                    "\(lines)")
            #expect(lines.dropFirst().first?.contains("could not send STATUS= to the service manager") == true, "\(lines)")
            #expect(lines.last?.contains("the service manager receives WATCHDOG=1 again") == true, "\(lines)")
        }
    }
}

extension ProcessEnvironment {
    /// A long step of the start says what runs and asks for more time, at once and at each
    /// interval, until it ends; then nothing more.
    @Suite struct LongStartStepTests {
        @Test func itSaysItselfAtOnceAndAtEachIntervalUntilItEnds() throws {
            let receiver = try DatagramReceiver()
            var messages: [String] = []
            try withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                let step = LongStartStep(notify: SystemdNotifications(), interval: .milliseconds(200))
                step.begin(status: "upgrading")
                step.begin(status: "a second begin changes nothing")
                #expect(receiver.receive(within: 100) == "STATUS=upgrading", "the first at once")
                #expect(receiver.receive(within: 100) == "EXTEND_TIMEOUT_USEC=1200000")
                let deadline = ContinuousClock.now + .seconds(5)
                while messages.filter({ $0.hasPrefix("STATUS=") }).count < 3, ContinuousClock.now < deadline {
                    if let message = receiver.receive(within: 50) { messages.append(message) }
                }
                step.end()
                try #require(messages.filter { $0.hasPrefix("STATUS=") }.count >= 3, "\(messages)")
            }
            #expect(messages.allSatisfy { $0 == "STATUS=upgrading" || $0 == "EXTEND_TIMEOUT_USEC=1200000" }, "\(messages)")
            // Sent before `end` returned, still in the socket.
            while let message = receiver.receive(within: 50) { messages.append(message) }
            #expect(receiver.receive(within: 600) == nil, "nothing after the end")
        }
    }
}
