import Foundation
import Logging
import Systemd
import Testing

extension ProcessEnvironment {
    /// The watchdog timer's turns, against a real datagram socket standing in for
    /// `NOTIFY_SOCKET`: `WATCHDOG=1` only while the gate sees both loops alive. A daemon that
    /// pinged on every turn (the gate asked, its answer ignored) would never be restarted
    /// when a tick hangs on a lock.
    @Suite struct WatchdogPingsTests {
        @Test func aHungTickStopsThePingsOnceSaidAndTheyComeBackWithTheLoop() throws {
            let receiver = try DatagramReceiver()
            // The daemon's own stderr handler, into a file: the lines it writes are the errors.
            let log = try TemporaryFile()
            let start = ContinuousClock.now
            let gate = SharedWatchdogGate(limits: .init(tickInterval: .seconds(60), tickBudget: .seconds(20), watchdogInterval: .seconds(4)),
                                          start: start)
            var received: [[String]] = []
            withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                let logger = Logger(label: "test") { _ in StderrLogHandler(logLevel: .error, fileDescriptor: log.descriptor) }
                let pings = WatchdogPings(gate: gate, notify: SystemdNotifications(), logger: logger)
                /// The messages one turn at `start + seconds` sent.
                func turn(at seconds: Int, progressed: Bool = false) {
                    pings.turn(tickProgressed: progressed, now: start + .seconds(seconds))
                    var sent: [String] = []
                    while let message = receiver.receive(within: 50) { sent.append(message) }
                    received.append(sent)
                }
                gate.tickStarted(at: start + .seconds(1))
                gate.notifierBeat(at: start + .seconds(1))
                turn(at: 2)                       // 0: a tick running, fresh
                gate.notifierBeat(at: start + .seconds(24))
                turn(at: 25)                      // 1: the tick silent for 24 s (budget 20 s): hung
                gate.notifierBeat(at: start + .seconds(26))
                turn(at: 27)                      // 2: still hung: no ping, no second error line
                turn(at: 28, progressed: true)    // 3: its steps advanced: alive again
                gate.tickFinished(at: start + .seconds(29))
                gate.notifierBeat(at: start + .seconds(29))
                turn(at: 30)                      // 4: waiting for the next tick
                turn(at: 40)                      // 5: the notifier silent for 11 s (limit 4 s): stuck
            }
            #expect(received.map { $0.filter { $0 == "WATCHDOG=1" }.count } == [1, 0, 0, 1, 1, 0], "\(received)")
            let errors = try log.lines()
            #expect(errors.count == 2, "\(errors)")
            #expect(errors.allSatisfy { $0.contains(" error overdued: watchdog pings stopped: ") }, "\(errors)")
            #expect(errors.first?.contains("tick") == true, "\(errors)")
        }

        /// After the whole process was stopped or frozen (40 s under SIGSTOP), the first turn
        /// found the notifier "silent for 40 s" and said the pings stopped, every time. A turn
        /// that late judges nothing against the loops (they had no turn either): a notice, and
        /// the verdict at the next turn; a late turn with the loops alive still pings.
        @Test func aTurnFarLaterThanItsIntervalDoesNotJudgeTheLoops() throws {
            let receiver = try DatagramReceiver()
            let log = try TemporaryFile()
            let start = ContinuousClock.now
            let gate = SharedWatchdogGate(limits: .init(tickInterval: .seconds(600), tickBudget: .seconds(20), watchdogInterval: .seconds(4)),
                                          start: start)
            var received: [[String]] = []
            withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                let logger = Logger(label: "test") { _ in StderrLogHandler(logLevel: .notice, fileDescriptor: log.descriptor) }
                let pings = WatchdogPings(gate: gate, notify: SystemdNotifications(), logger: logger, interval: .seconds(2))
                func turn(at seconds: Int) {
                    pings.turn(tickProgressed: false, now: start + .seconds(seconds))
                    var sent: [String] = []
                    while let message = receiver.receive(within: 50) { sent.append(message) }
                    received.append(sent)
                }
                gate.tickFinished(at: start + .seconds(1), nextTickAt: start + .seconds(600))
                gate.notifierBeat(at: start + .seconds(1))
                turn(at: 2)                       // 0: alive
                turn(at: 42)                      // 1: 40 s later (frozen): not judged, no ping
                gate.notifierBeat(at: start + .seconds(43))
                turn(at: 44)                      // 2: the notifier ran again: ping
                gate.notifierBeat(at: start + .seconds(90))
                turn(at: 90)                      // 3: late, but the loops ran first: ping
                turn(at: 92)                      // 4: on time: ping
                turn(at: 95)                      // 5: on time, notifier silent 5 s (limit 4 s): withheld, said
            }
            #expect(received.map { $0.filter { $0 == "WATCHDOG=1" }.count } == [1, 0, 1, 1, 1, 0], "\(received)")
            let lines = try log.lines()
            #expect(lines.count == 2, "\(lines)")
            #expect(lines.first?.contains(" notice overdued: the watchdog timer came 40.0s after its last turn: this process did not run meanwhile") == true, "\(lines)")
            #expect(lines.last?.contains(" error overdued: watchdog pings stopped: ") == true, "\(lines)")
        }
    }
}
