import Dispatch
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
    }
}
