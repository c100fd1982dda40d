import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP proxy on 127.0.0.1 that opens CONNECT tunnels, as squid or tinyproxy do: it reads
/// the CONNECT request, records its target and `Proxy-Authorization`, answers with the
/// scripted status (200 opens the tunnel to the target) and then copies bytes both ways.
/// Plain sockets and a thread per direction: a test helper, not a server.
final class TunnelProxy: @unchecked Sendable {
    struct Connect: Sendable {
        var target: String
        var authorization: String?
    }

    private let listener: Int32
    let port: Int
    private let lock = NSLock()
    private var seen: [Connect] = []
    private let answer: @Sendable (Connect) -> Int

    /// `answer` gives the status for each CONNECT (200 opens the tunnel).
    init(answer: @escaping @Sendable (Connect) -> Int = { _ in 200 }) throws {
        self.answer = answer
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) } }
        guard bound == 0, listen(listener, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &size) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var connects: [Connect] { lock.withLock { seen } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            Thread { [self] in serve(client) }.start()
        }
    }

    private func serve(_ client: Int32) {
        var head = [UInt8]()
        var byte: UInt8 = 0
        while !head.ends(with: Array("\r\n\r\n".utf8)), read(client, &byte, 1) == 1 { head.append(byte) }
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        guard parts.count == 3, parts[0] == "CONNECT" else {
            close(client)
            return
        }
        let authorization = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        let connect = Connect(target: String(parts[1]), authorization: authorization)
        lock.withLock { seen.append(connect) }
        let status = answer(connect)
        guard status == 200, let upstream = Self.connect(to: connect.target) else {
            Self.write(client, "HTTP/1.1 \(status == 200 ? 502 : status) Refused\r\nContent-Length: 0\r\n\r\n")
            close(client)
            return
        }
        Self.write(client, "HTTP/1.1 200 Connection established\r\n\r\n")
        // The second direction to end closes both sockets.
        let ended = Ended()
        Thread {
            Self.copy(from: upstream, to: client)
            if ended.second() { close(client); close(upstream) }
        }.start()
        Self.copy(from: client, to: upstream)
        if ended.second() { close(client); close(upstream) }
    }

    private final class Ended: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func second() -> Bool { lock.withLock { count += 1; return count == 2 } }
    }

    private static func connect(to target: String) -> Int32? {
        let pieces = target.split(separator: ":")
        guard pieces.count == 2, let port = UInt16(pieces[1]) else { return nil }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(String(pieces[0]))
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(upstream)
            return nil
        }
        return upstream
    }

    private static func write(_ socket: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Copies until either side closes, then closes both directions of both.
    private static func copy(from source: Int32, to target: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count <= 0 { break }
            let sent = buffer.withUnsafeBytes { send(target, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }
            if sent != count { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(target, Int32(SHUT_RDWR))
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
