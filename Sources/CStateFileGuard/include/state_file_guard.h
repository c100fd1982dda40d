#ifndef OVERDUED_STATE_FILE_GUARD_H
#define OVERDUED_STATE_FILE_GUARD_H

/// Makes SQLite refuse to follow a symbolic link at `full_path` (the state database, as
/// SQLite names it: absolute, with the folder's own links resolved) or at its `-wal`,
/// `-shm` and `-journal` files, in this process, from now on.
///
/// Whoever can write the state database's folder (the service's user) could otherwise put a
/// link there for root's `overdued scan`, `once`, `history` or `queue` to create or write
/// any file through. A check before SQLite opens the file leaves a window; this closes it:
/// SQLite's unix VFS resolves links through its `readlink` system call and opens files
/// through its `open` one, and both are replaced (`xSetSystemCall`, SQLite's interface for
/// exactly this) by versions that refuse a link at those paths (`ELOOP`, and `O_NOFOLLOW`).
///
/// Returns 0 on success, -1 when the VFS could not be set up (SQLite then behaves as before).
int overdued_guard_state_files(const char *full_path);

#endif
