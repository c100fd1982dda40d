#ifndef OVERDUED_PROCESS_MEMORY_H
#define OVERDUED_PROCESS_MEMORY_H

/// Returns the heap's free memory to the kernel (glibc keeps what a burst of work freed;
/// `malloc_trim` is declared in <malloc.h>, which Swift's Glibc module does not import).
/// Returns 1 when memory was released, 0 otherwise.
int overdued_release_free_heap(void);

/// Caps glibc's malloc arenas (by default up to eight per core, each keeping its own free
/// memory). A daemon with a handful of threads that allocate little needs few. Returns 1 on
/// success.
int overdued_limit_heap_arenas(int arenas);

#endif
