import Foundation

/// "Something changed, look again": lets a sleeping delivery loop wake early (new
/// notifications, a finished request, a reload, shutdown) without polling. A signal that
/// arrives while nobody waits is remembered once, so it cannot be lost between a loop's
/// check and its sleep.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        /// Names each wait; a counter, not a UUID (which reads /dev/urandom on Linux, once
        /// per wait: once a second in an idle daemon, once per delivery under load).
        var nextWait: UInt64 = 0
        var active: Set<UInt64> = []
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var resumedEarly: Set<UInt64> = []
    }

    private let state = LockedState(State())

    /// Nonblocking; safe from any thread.
    func signal() {
        let toResume: [CheckedContinuation<Void, Never>] = state.withLock { state in
            if state.active.isEmpty {
                state.pending = true
                return []
            }
            var resumed: [CheckedContinuation<Void, Never>] = []
            for id in state.active {
                if let waiter = state.waiters.removeValue(forKey: id) {
                    resumed.append(waiter)
                } else {
                    state.resumedEarly.insert(id)
                }
            }
            return resumed
        }
        for waiter in toResume { waiter.resume() }
    }

    /// Returns on a signal, after `timeout`, or when the task is cancelled.
    func wait(upTo timeout: Duration) async {
        let (id, alreadySignalled) = state.withLock { state -> (UInt64, Bool) in
            state.nextWait &+= 1
            if state.pending {
                state.pending = false
                return (state.nextWait, true)
            }
            state.active.insert(state.nextWait)
            return (state.nextWait, false)
        }
        if alreadySignalled || timeout <= .zero {
            if !alreadySignalled { finish(id) }
            return
        }
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self?.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.resumedEarly.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            resume(id)
        }
        timer.cancel()
        finish(id)
    }

    private func resume(_ id: UInt64) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard state.active.contains(id) else { return nil }
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            state.resumedEarly.insert(id)
            return nil
        }
        waiter?.resume()
    }

    private func finish(_ id: UInt64) {
        state.withLock { state in
            state.active.remove(id)
            state.resumedEarly.remove(id)
            state.waiters.removeValue(forKey: id)
        }
    }
}
