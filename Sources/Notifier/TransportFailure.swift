/// Why an HTTP attempt produced no response. `WebhookTransport.failure` names it from the
/// client's error, without the URL's secrets.
public struct TransportFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Connect or whole-request timeout.
        case timeout
        /// Refused, reset, closed before a response, DNS, TLS.
        case connection
        /// The request cannot be made at all (bad URL): retrying cannot help.
        case invalidRequest
        /// We cancelled it (shutdown): not an outcome of the receiver, not recorded.
        case cancelled
        /// This process could not make the request: no file descriptor left for its socket
        /// (`EMFILE`, `ENFILE`). Not an outcome of the receiver, not recorded: counted as an
        /// attempt, it spent healthy notifications' retry budgets (81 of 150 given up in 5 s
        /// with `ulimit -n 64` and a concurrency of 100).
        case localResources
    }

    public var kind: Kind
    /// Human text; never holds the URL's path or query.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
