import Logging
import OverduedConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The open files the process may have (`RLIMIT_NOFILE`). Each request in flight holds a
/// socket, each SQLite connection its file, `-wal` and `-shm`, the event loops their epoll
/// and timer descriptors; and libdispatch kills the process (SIGILL, "workq: registered worker
/// exited prematurely") when it cannot open `/proc/…/stat` for want of one, so running out is a
/// crash, not a failed request. Shells and service managers commonly give a soft limit of 1,024
/// under a much higher hard one: the deliverers raise the soft limit to the hard one at start, as
/// Go's runtime does, and warn when even that is below what the config may use. (Under the unit,
/// whose system call filter refuses `setrlimit`, `LimitNOFILE=` sets both.)
enum OpenFilesLimit {
    /// Descriptors beyond the requests in flight: SQLite's connections (the state database's
    /// pool, the tickets'), the event loops, the journal, the notify and signal sockets.
    static let reserve = 64

    /// What the config may hold open at once: a request in flight (and its connection) per
    /// unit of each destination's concurrency, and the reserve.
    static func needed(_ config: Config) -> Int {
        config.destinations.reduce(reserve) { $0 + $1.concurrency }
    }

    /// Raises the soft limit to the hard one; logs a warning when the limit is below what the
    /// config needs. Returns the soft limit in force, nil when it could not be read.
    @discardableResult
    static func raise(for config: Config, logger: Logger) -> UInt? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }   // (RLIM_INFINITY is all ones)
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let needed = needed(config)
        if limit.rlim_cur != rlim_t.max, limit.rlim_cur < UInt(needed) {
            let text = "the open files limit is \(limit.rlim_cur) (hard limit \(limit.rlim_max)), below the \(needed) this config may use "
                + "(the destinations' concurrency (\(needed - reserve)) and \(reserve) for the databases and the process): running out ends the process. "
                + "Raise it (LimitNOFILE in a drop-in of the unit, or ulimit -n) or lower the concurrency"
            logger.warning("\(text)")
        }
        return limit.rlim_cur
    }
}
