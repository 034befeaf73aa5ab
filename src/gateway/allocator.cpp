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

void release_free_memory(void (*free_caches)(void* context), void* context) {
    // mimalloc (2.0) decommits (MADV_DONTNEED) a span freed in a segment only
    // decommit_delay ms later, and only when the thread allocates a page
    // again; a forced collect frees empty pages but leaves their spans on that
    // same delayed list. A loop that went quiet after an attack would keep
    // them resident for ever. So the caches are freed and the collect runs
    // with the delay at 0: every span freed meanwhile, merged with the free
    // spans around it, is decommitted now. That is why the loop caches what
    // closing connections give back instead of freeing it then. Other threads
    // freeing meanwhile decommit at once too, which costs them a madvise; the
    // delay is restored after, so steady traffic keeps reusing committed pages
    // (with the delay at 0 for good, 100 connections x 8 x 64 KiB in flight
    // made 0.27 madvise calls per message).
    std::lock_guard<std::mutex> lock(release_mutex);
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    free_caches(context);
    mi_collect(true);
    mi_option_set(mi_option_decommit_delay, delay);
}

#else

void release_free_memory(void (*free_caches)(void* context), void* context) {
    free_caches(context);
    malloc_trim(0);
}

#endif

}  // namespace wsgate::gateway
