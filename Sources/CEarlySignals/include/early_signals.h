#ifndef OVERDUED_EARLY_SIGNALS_H
#define OVERDUED_EARLY_SIGNALS_H

#define OVERDUED_EARLY_SIGHUP  1
#define OVERDUED_EARLY_SIGUSR1 2
#define OVERDUED_EARLY_SIGTERM 4
#define OVERDUED_EARLY_SIGINT  8

/// 1 when the process was started as `overdued run` and the start-up signal guard (a
/// handler that records SIGHUP, SIGUSR1, SIGTERM, SIGINT) was installed before the runtime.
int overdued_early_signal_guard_installed(void);

/// Which of those signals arrived while the guard was the handler (OVERDUED_EARLY_* bits).
int overdued_early_signals_received(void);

/// 1 once every one of those signals has another handler than the guard's (libdispatch
/// installs its own when a signal source is registered, which happens asynchronously).
int overdued_early_signal_guard_replaced(void);

#endif
