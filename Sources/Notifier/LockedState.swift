import Foundation

/// A value shared between tasks and NIO event-loop threads, guarded by a lock.
///
/// `Synchronization.Mutex` would do, but it needs macOS 15 while the package still declares
/// macOS 14; an `NSLock` works everywhere and the critical sections here are a few
/// assignments long.
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
