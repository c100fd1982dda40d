import Foundation

/// What the command line does about its own standard streams: output it could not write is
/// an error (exit 1, said on stderr), not a success with a truncated file; a stream the
/// caller closed is opened on /dev/null first, so that no descriptor the process opens later
/// (an event loop's, a file's) takes its number and receives what was meant for it.
enum StandardStreams {
    /// Opens /dev/null on each of descriptors 0 to 2 that is closed. Call first.
    static func openNullOnClosed() {
        for descriptor in Int32(0)...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0, null != descriptor {
                dup2(null, descriptor)
                close(null)
            }
        }
    }

    /// Flushes what `print` buffered; when that fails (a full disk: the buffer's writes fail
    /// again at the flush), says so and returns false. (A closed pipe's SIGPIPE ends the
    /// process before, as for any command line tool.)
    static func flushOutput() -> Bool {
        guard fflush(nil) != 0 else { return true }
        printError("overdued: cannot write the output: \(String(cString: strerror(errno)))")
        return false
    }

    /// Writes all of `text` to a descriptor, unbuffered; false when it cannot (errno says why).
    static func write(_ text: String, to descriptor: Int32 = STDOUT_FILENO) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return false }
            bytes = bytes.dropFirst(written)
        }
        return true
    }
}
