import Logging

extension LogEvent {
    /// The metadata one record carries, merged the way swift-log's own `StreamLogHandler` does
    /// so that switching between journal and stderr never changes which keys appear: the
    /// handler's metadata, then the provider's, then the call site's, each overriding the one
    /// before; an attached error adds `error.message` and `error.type`.
    func effectiveMetadata(
        handler: Logger.Metadata,
        provider: Logger.MetadataProvider?
    ) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let explicit = metadata {
            merged.merge(explicit) { _, new in new }
        }
        if let error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return merged
    }
}
