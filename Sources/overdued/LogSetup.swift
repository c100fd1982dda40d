import ArgumentParser
import Foundation
import Logging
import Notifier
import OverduedConfig
import Scheduler
import Store
import Systemd
import TimeZoneRules

enum LogSetup {
    /// The log level every handler reads, so that a reload can change it in place.
    static let level = LevelBox(.info)

    /// Sends logs to the journal natively when stderr is the journal or the config says so,
    /// else readable lines on stderr. Without a journal socket (not under systemd, or a
    /// container without journald) records sent to the journal would vanish: stderr then,
    /// with one warning saying why.
    static func bootstrap(_ settings: LogSettings?, forceStderr: Bool = false) {
        level.set(Logger.Level(configName: (settings?.level ?? .info).rawValue) ?? .info)
        let target = settings?.target ?? .auto
        let wantsJournal = !forceStderr && (target == .journal || (target == .auto && JournalStream.stderrIsJournal()))
        let useJournal = wantsJournal && JournalLogHandler.journalSocketExists()
        LoggingSystem.bootstrap { _ -> any LogHandler in
            if useJournal { return SharedLevelHandler(JournalLogHandler(), level: level) }
            return SharedLevelHandler(StderrLogHandler(), level: level)
        }
        if wantsJournal, !useJournal {
            Logger(label: "overdued").warning("log.target is \"\(target.rawValue)\" but there is no journal socket at \(JournalLogHandler.socketPath) (journald is not running here): logging to stderr instead")
        }
    }
}
