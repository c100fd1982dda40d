import Synchronization

/// A value shared between tasks and NIO event-loop threads, guarded by a lock: a `Mutex` that
/// a class makes shareable by reference (the state lives as long as its longest holder).
final class LockedState<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }
}
