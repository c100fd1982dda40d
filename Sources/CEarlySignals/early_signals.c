// `overdued run` handles SIGHUP, SIGUSR1, SIGTERM and SIGINT with Dispatch signal sources,
// which exist only once the Swift runtime is up and the daemon is starting. Until then a
// signal would take its default action: SIGHUP (systemd's ExecReload, an operator's kill)
// and SIGTERM would end the process, and a SIGTERM would not be a clean stop.
//
// A constructor runs before the runtime starts and installs a handler that only records
// which of these signals arrived. libdispatch replaces it with its own handler when the
// daemon creates its signal sources; the daemon then reads what was recorded: a SIGTERM or
// SIGINT received during start-up stops it cleanly at once; an early SIGHUP or SIGUSR1 asks
// for what start-up does anyway (load the config, run a first tick).
//
// Only `run` does this: for the other commands the signals keep their usual meaning.
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include "early_signals.h"

// Atomic, not only `volatile sig_atomic_t`: by the time a signal comes, the process has other
// threads (NIO's event loops) that may run the handler while the daemon's thread reads the
// bits. A plain `|=` is a read and a write, and two handlers on two threads could lose one of
// the bits (a SIGTERM lost: the daemon started anyway, and systemd killed it at its stop
// timeout); and the reader had no ordering with a handler still running (ThreadSanitizer saw
// both). A lock-free atomic is safe in a signal handler.
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs a lock-free atomic int");
static atomic_int received = 0;
static volatile sig_atomic_t installed = 0;

static void record_early_signal(int number) {
    int bit = 0;
    switch (number) {
    case SIGHUP: bit = OVERDUED_EARLY_SIGHUP; break;
    case SIGUSR1: bit = OVERDUED_EARLY_SIGUSR1; break;
    case SIGTERM: bit = OVERDUED_EARLY_SIGTERM; break;
    case SIGINT: bit = OVERDUED_EARLY_SIGINT; break;
    default: return;
    }
    atomic_fetch_or_explicit(&received, bit, memory_order_release);
}

__attribute__((constructor))
static void overdued_install_early_signal_guard(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc < 2 || argv == NULL || argv[1] == NULL || strcmp(argv[1], "run") != 0) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_early_signal;
    action.sa_flags = SA_RESTART;
    // One handler at a time on a thread (the atomic covers handlers on other threads).
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGHUP);
    sigaddset(&action.sa_mask, SIGUSR1);
    sigaddset(&action.sa_mask, SIGTERM);
    sigaddset(&action.sa_mask, SIGINT);
    int numbers[] = { SIGHUP, SIGUSR1, SIGTERM, SIGINT };
    for (unsigned i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        if (sigaction(numbers[i], &action, NULL) != 0) return;
    }
    installed = 1;
}

int overdued_early_signal_guard_installed(void) {
    return installed;
}

int overdued_early_signals_received(void) {
    return atomic_load_explicit(&received, memory_order_acquire);
}

int overdued_early_signal_guard_replaced(void) {
    int numbers[] = { SIGHUP, SIGUSR1, SIGTERM, SIGINT };
    for (unsigned i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        struct sigaction current;
        if (sigaction(numbers[i], NULL, &current) != 0) return 0;
        if (current.sa_handler == record_early_signal) return 0;
    }
    return 1;
}
