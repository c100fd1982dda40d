#include "process_memory.h"

#include <malloc.h>

int overdued_release_free_heap(void) {
    return malloc_trim(0);
}

int overdued_limit_heap_arenas(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}
