#ifndef OVERDUED_EARLY_SIGNALS_H
#define OVERDUED_EARLY_SIGNALS_H

/// 1 when the process was started as `overdued run` and SIGHUP/SIGUSR1 were set to SIG_IGN
/// before the Swift runtime started.
int overdued_early_signals_ignored(void);

#endif
