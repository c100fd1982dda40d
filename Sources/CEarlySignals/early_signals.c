// SIGHUP's default action terminates the process. systemd's ExecReload, or an operator's
// `kill -HUP`, can arrive while `overdued run` is still starting (runtime set-up, argument
// parsing, config load) and before its Dispatch signal sources exist. A constructor runs
// before any of that, so the window is reduced to the dynamic loader's. Only `run` ignores
// them this early: for the other commands SIGHUP keeps its usual meaning (a closed terminal
// ends them).
#include <signal.h>
#include <string.h>
#include "early_signals.h"

static int ignored = 0;

__attribute__((constructor))
static void overdued_ignore_early_signals(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc > 1 && argv != NULL && argv[1] != NULL && strcmp(argv[1], "run") == 0) {
        signal(SIGHUP, SIG_IGN);
        signal(SIGUSR1, SIG_IGN);
        ignored = 1;
    }
}

int overdued_early_signals_ignored(void) {
    return ignored;
}
