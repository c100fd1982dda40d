#include "state_file_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static char **guarded_paths;
static size_t guarded_count;
static sqlite3_syscall_ptr original_open;
static sqlite3_syscall_ptr original_readlink;

/// Whether `path` is a guarded database or one of the files SQLite keeps beside it.
static int is_guarded(const char *path) {
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    int found = 0;
    pthread_mutex_lock(&guard_lock);
    for (size_t index = 0; index < guarded_count && !found; index++) {
        size_t length = strlen(guarded_paths[index]);
        if (strncmp(path, guarded_paths[index], length) != 0) continue;
        for (size_t suffix = 0; suffix < sizeof suffixes / sizeof *suffixes; suffix++) {
            if (strcmp(path + length, suffixes[suffix]) == 0) { found = 1; break; }
        }
    }
    pthread_mutex_unlock(&guard_lock);
    return found;
}

/// SQLite calls its `open` as `int (*)(const char *, int, int)`.
static int guarded_open(const char *path, int flags, int mode) {
    if (is_guarded(path)) flags |= O_NOFOLLOW;
    return ((int (*)(const char *, int, int))original_open)(path, flags, mode);
}

/// SQLite resolves a link in a database's path with `readlink`; a guarded path is never one.
static ssize_t guarded_readlink(const char *path, char *buffer, size_t size) {
    if (is_guarded(path)) {
        errno = ELOOP;
        return -1;
    }
    return ((ssize_t (*)(const char *, char *, size_t))original_readlink)(path, buffer, size);
}

/// Installs both replacements once. Under the lock: the pointers are read by every open.
static int install(void) {
    if (original_open && original_readlink) return 0;
    sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
    if (!vfs || vfs->iVersion < 3 || !vfs->xGetSystemCall || !vfs->xSetSystemCall) return -1;
    sqlite3_syscall_ptr open_call = vfs->xGetSystemCall(vfs, "open");
    sqlite3_syscall_ptr readlink_call = vfs->xGetSystemCall(vfs, "readlink");
    if (!open_call || !readlink_call) return -1;
    original_open = open_call;
    original_readlink = readlink_call;
    if (vfs->xSetSystemCall(vfs, "open", (sqlite3_syscall_ptr)guarded_open) != SQLITE_OK) return -1;
    if (vfs->xSetSystemCall(vfs, "readlink", (sqlite3_syscall_ptr)guarded_readlink) != SQLITE_OK) {
        vfs->xSetSystemCall(vfs, "open", open_call);
        return -1;
    }
    return 0;
}

int overdued_guard_state_files(const char *full_path) {
    if (!full_path || !*full_path) return -1;
    pthread_mutex_lock(&guard_lock);
    int result = install();
    int known = 0;
    for (size_t index = 0; index < guarded_count && !known; index++) {
        known = strcmp(guarded_paths[index], full_path) == 0;
    }
    if (result == 0 && !known) {
        char *copy = strdup(full_path);
        char **grown = copy ? realloc(guarded_paths, (guarded_count + 1) * sizeof *grown) : NULL;
        if (grown) {
            guarded_paths = grown;
            guarded_paths[guarded_count++] = copy;
        } else {
            free(copy);
            result = -1;
        }
    }
    pthread_mutex_unlock(&guard_lock);
    return result;
}
