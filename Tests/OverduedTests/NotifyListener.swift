import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real Unix datagram socket standing in for systemd's `NOTIFY_SOCKET`: what the daemon
/// sends with sd_notify arrives here as datagrams. A thread reads them as they come, as the
/// service manager does: such a socket holds only a few unread datagrams
/// (`net.unix.max_dgram_qlen`, 10 on some machines), and a daemon whose sd_notify finds it
/// full waits.
final class NotifyListener {
    let path: String
    private let descriptor: Int32
    private let inbox = Inbox()
    private let reader: Thread

    private final class Inbox: Sendable {
        let messages = Mutex<[String]>([])
        let closing = Atomic<Bool>(false)
        let closed = DispatchSemaphore(value: 0)
    }

    init(path: String) throws {
        self.path = path
        unlink(path)
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            throw POSIXError(.ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        self.descriptor = descriptor
        let inbox = inbox
        reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !inbox.closing.load(ordering: .acquiring) {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 50) > 0 else { continue }
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count > 0 {
                    let message = String(decoding: buffer[0..<count], as: UTF8.self)
                    inbox.messages.withLock { $0.append(message) }
                }
            }
            inbox.closed.signal()
        }
        reader.start()
    }

    deinit {
        inbox.closing.store(true, ordering: .releasing)
        inbox.closed.wait()
        close(descriptor)
        unlink(path)
    }

    /// The next datagram, or nil after `timeout` seconds.
    func receive(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            let next = inbox.messages.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            if let next { return next }
            usleep(5_000)
        } while Date() < deadline
        return nil
    }

    /// Reads datagrams until one satisfies `predicate` (returned) or the time runs out (nil).
    /// Every datagram read is appended to `seen`.
    func waitFor(timeout: TimeInterval, seen: inout [String], _ predicate: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let message = receive(timeout: deadline.timeIntervalSinceNow) else { return nil }
            seen.append(message)
            if predicate(message) { return message }
        }
        return nil
    }
}
