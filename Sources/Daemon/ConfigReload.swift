public import OverduedConfig

/// What a `SIGHUP` does with a new config file, decided before anything is touched: the
/// running config is replaced only by one that loaded and validated in full, and only in ways
/// that can change in place. Pure, so the state machine is tested without signals.
public enum ConfigReload: Sendable, Equatable {
    /// Swap to the new config. `reopenTickets`: the tickets database path changed.
    case apply(Config, changes: [String], reopenTickets: Bool)
    /// Keep running on the old config, for these reasons.
    case refuse(problems: [String])

    /// The rules a reload removed, or changed (their match, repeat or destinations): their
    /// queue waits for the next tick to weigh it. All of the old ones when the zone changed
    /// (it moves every naive date). Pure.
    public static func rulesChanged(from old: Config, to new: Config) -> Set<String> {
        if old.store.timeZone != new.store.timeZone { return Set(old.rules.map(\.name)) }
        let kept = Dictionary(new.rules.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return Set(old.rules.filter { kept[$0.name] != $0 }.map(\.name))
    }

    public static func plan(current: Config, candidate: Result<Config, ConfigError>) -> ConfigReload {
        let new: Config
        switch candidate {
        case .failure(let error):
            return .refuse(problems: error.problems.map(\.description))
        case .success(let config):
            new = config
        }
        var problems: [String] = []
        if new.store.stateDatabase != current.store.stateDatabase {
            problems.append("store.state_database: cannot change while running (the queue lives there); restart the service to move it")
        }
        if new.log.target != current.log.target {
            problems.append("log.target: cannot change while running; restart the service to change where logs go")
        }
        guard problems.isEmpty else { return .refuse(problems: problems) }

        var changes: [String] = []
        if new.store.ticketsDatabase != current.store.ticketsDatabase { changes.append("store.tickets_database") }
        if new.store.timeZone != current.store.timeZone { changes.append("store.timezone") }
        if new.store.busyTimeout != current.store.busyTimeout { changes.append("store.busy_timeout") }
        if new.store.historyRetention != current.store.historyRetention { changes.append("store.history_retention") }
        if new.schedule != current.schedule { changes.append("schedule") }
        if new.rules != current.rules { changes.append("rules") }
        if new.destinations != current.destinations { changes.append("destinations") }
        if new.log.level != current.log.level { changes.append("log.level") }
        return .apply(new, changes: changes,
                      reopenTickets: new.store.ticketsDatabase != current.store.ticketsDatabase
                          || new.store.busyTimeout != current.store.busyTimeout)
    }
}
