public import Logging
import Synchronization

/// A log level shared by every logger of the process, so that `SIGHUP` can change
/// `log.level` without rebuilding loggers (swift-log keeps a level per handler copy).
public final class LevelBox: Sendable {
    private let value: Mutex<Logger.Level>

    public init(_ level: Logger.Level) {
        value = Mutex(level)
    }

    public func get() -> Logger.Level { value.withLock { $0 } }
    public func set(_ level: Logger.Level) { value.withLock { $0 = level } }
}

/// Wraps a handler so that its level is the shared one.
public struct SharedLevelHandler<Handler: LogHandler>: LogHandler {
    private var handler: Handler
    private let level: LevelBox

    public init(_ handler: Handler, level: LevelBox) {
        self.handler = handler
        self.level = level
    }

    public var logLevel: Logger.Level {
        get { level.get() }
        set { level.set(newValue) }
    }

    public var metadata: Logger.Metadata {
        get { handler.metadata }
        set { handler.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { handler.metadataProvider }
        set { handler.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { handler[metadataKey: key] }
        set { handler[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        handler.log(event: event)
    }
}

extension Logger.Level {
    /// The swift-log level for a config `log.level` name (spelled as in the config).
    public init?(configName name: String) {
        switch name {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warning": self = .warning
        case "error": self = .error
        default: return nil
        }
    }
}
