// The process's allocator: mimalloc in release builds (linked before libc, and
// new/delete routed to it in allocator.cpp), the C library's or a sanitizer's
// otherwise (meson option mimalloc).
#pragma once

namespace wsgate::gateway {

// Calls free_caches(context), then gives the pages the calling thread's heap
// holds but no longer uses back to the operating system; what free_caches
// frees goes back at once (ws::LoopSettings::release_memory, called by a loop
// that went quiet after a peak, free_caches emptying its own caches).
void release_free_memory(void (*free_caches)(void* context), void* context);

}  // namespace wsgate::gateway
