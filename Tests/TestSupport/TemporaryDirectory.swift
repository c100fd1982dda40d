public import Foundation

/// A fresh folder under the system temp dir, removed when the value is released: every test
/// that touches files (databases, configs, secrets, sockets) works in its own.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("overdued-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The absolute path of `name` inside the folder.
    public func url(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Writes `contents` to `name` (creating folders) and returns the absolute path.
    @discardableResult
    public func write(_ name: String, _ contents: String) throws -> String {
        let target = url(name)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// The bytes of a file, to prove a database was not changed by reading it.
    public func bytes(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: url(name)))
    }

    public func fileNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }
}
