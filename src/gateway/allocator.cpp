#include "gateway/allocator.hpp"

#if WSGATE_MIMALLOC
#include <mimalloc-new-delete.h>  // new/delete to mimalloc (malloc is, by link order)
#include <mimalloc.h>

#include <mutex>
#else
#include <malloc.h>
#endif

namespace wsgate::gateway {

#if WSGATE_MIMALLOC

namespace {
std::mutex release_mutex;  // the loops' releases share one global option
}

void release_free_memory() {
    // mimalloc (2.0) decommits (MADV_DONTNEED) a freed span of a segment
    // only decommit_delay ms later, and only when the thread allocates a page
    // again; a forced collect frees the empty pages but leaves their spans on
    // that same delayed list. A loop that went quiet after an attack would
    // keep them resident for ever. So the collect runs with the delay at 0:
    // every span it frees, coalesced with the free spans around it, is
    // decommitted now. Other threads freeing meanwhile decommit at once too,
    // which costs them nothing but a madvise; the delay is restored after,
    // so steady traffic keeps reusing committed pages.
    std::lock_guard<std::mutex> lock(release_mutex);
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    mi_collect(true);
    mi_option_set(mi_option_decommit_delay, delay);
}

#else

void release_free_memory() {
    malloc_trim(0);
}

#endif

}  // namespace wsgate::gateway
