// The process's allocator: mimalloc in release builds (linked before libc, and
// new/delete routed to it in allocator.cpp), the C library's or a sanitizer's
// otherwise (meson option mimalloc).
#pragma once

namespace wsgate::gateway {

// Gives the pages the calling thread's heap holds but no longer uses back to
// the operating system (ws::LoopSettings::release_memory, called by a loop
// that went quiet after a peak).
void release_free_memory();

}  // namespace wsgate::gateway
