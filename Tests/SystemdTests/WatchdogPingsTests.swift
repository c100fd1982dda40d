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
        /// Turns of the ping timer at chosen instants (seconds after `start`), with the loops'
        /// beats set on `gate` in between; the daemon's own stderr handler writes into a file.
        struct Turns {
            let start = ContinuousClock.now
            let gate: SharedWatchdogGate

            init(tickInterval: Duration) {
                gate = SharedWatchdogGate(limits: .init(tickInterval: tickInterval, tickBudget: .seconds(20), watchdogInterval: .seconds(4)),
                                          start: start)
            }

            func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }

            /// Runs `script`, which calls its argument for each turn (at, tick progressed); how many
            /// `WATCHDOG=1` each turn sent, and the lines logged at `logLevel` or above.
            func run(logLevel: Logger.Level, interval: Duration? = nil,
                     _ script: (_ turn: (Int, Bool) -> Void) -> Void) throws -> (pings: [Int], lines: [String]) {
                let receiver = try DatagramReceiver()
                let log = try TemporaryFile()
                var pingsPerTurn: [Int] = []
                withEnvironment(["NOTIFY_SOCKET": receiver.path]) {
                    let logger = Logger(label: "test") { _ in StderrLogHandler(logLevel: logLevel, fileDescriptor: log.descriptor) }
                    let pings = WatchdogPings(gate: gate, notify: SystemdNotifications(), logger: logger, interval: interval)
                    script { seconds, progressed in
                        pings.turn(tickProgressed: progressed, now: at(seconds))
                        var sent: [String] = []
                        while let message = receiver.receive(within: 50) { sent.append(message) }
                        pingsPerTurn.append(sent.filter { $0 == "WATCHDOG=1" }.count)
                    }
                }
                return (pingsPerTurn, try log.lines())
            }
        }

        @Test func aHungTickStopsThePingsOnceSaidAndTheyComeBackWithTheLoop() throws {
            let turns = Turns(tickInterval: .seconds(60))
            let gate = turns.gate
            let (pings, errors) = try turns.run(logLevel: .error) { turn in
                gate.tickStarted(at: turns.at(1))
                gate.notifierBeat(at: turns.at(1))
                turn(2, false)                    // 0: a tick running, fresh
                gate.notifierBeat(at: turns.at(24))
                turn(25, false)                   // 1: the tick silent for 24 s (budget 20 s): hung
                gate.notifierBeat(at: turns.at(26))
                turn(27, false)                   // 2: still hung: no ping, no second error line
                turn(28, true)                    // 3: its steps advanced: alive again
                gate.tickFinished(at: turns.at(29))
                gate.notifierBeat(at: turns.at(29))
                turn(30, false)                   // 4: waiting for the next tick
                turn(40, false)                   // 5: the notifier silent for 11 s (limit 4 s): stuck
            }
            #expect(pings == [1, 0, 0, 1, 1, 0])
            #expect(errors.count == 2, "\(errors)")
            #expect(errors.allSatisfy { $0.contains(" error overdued: watchdog pings stopped: ") }, "\(errors)")
            #expect(errors.first?.contains("tick") == true, "\(errors)")
        }

        /// After the whole process was stopped or frozen (40 s under SIGSTOP), the first turn
        /// found the notifier "silent for 40 s" and said the pings stopped, every time. A turn
        /// that late judges nothing against the loops (they had no turn either): a notice, and
        /// the verdict at the next turn; a late turn with the loops alive still pings.
        @Test func aTurnFarLaterThanItsIntervalDoesNotJudgeTheLoops() throws {
            let turns = Turns(tickInterval: .seconds(600))
            let gate = turns.gate
            let (pings, lines) = try turns.run(logLevel: .notice, interval: .seconds(2)) { turn in
                gate.tickFinished(at: turns.at(1), nextTickAt: turns.at(600))
                gate.notifierBeat(at: turns.at(1))
                turn(2, false)                    // 0: alive
                turn(42, false)                   // 1: 40 s later (frozen): not judged, no ping
                gate.notifierBeat(at: turns.at(43))
                turn(44, false)                   // 2: the notifier ran again: ping
                gate.notifierBeat(at: turns.at(90))
                turn(90, false)                   // 3: late, but the loops ran first: ping
                turn(92, false)                   // 4: on time: ping
                turn(95, false)                   // 5: on time, notifier silent 5 s (limit 4 s): withheld, said
            }
            #expect(pings == [1, 0, 1, 1, 1, 0])
            #expect(lines.count == 2, "\(lines)")
            #expect(lines.first?.contains(" notice overdued: the watchdog timer came 40.0s after its last turn: this process did not run meanwhile") == true, "\(lines)")
            #expect(lines.last?.contains(" error overdued: watchdog pings stopped: ") == true, "\(lines)")
        }
    }
}
