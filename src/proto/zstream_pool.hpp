// A small per-thread cache of idle zlib streams. With no_context_takeover
// (RFC 7692 §7.1.1.1, §7.1.1.2) the LZ77 window is dropped after every
// message, so a connection needs a stream only while a message is in flight:
// it borrows one here and gives it back at the message's end, and an idle
// connection holds no zlib memory at all.
#pragma once

#include <cstddef>

#include "proto/zstream.hpp"

namespace wsgate::proto {

inline constexpr size_t kMaxZStreamPoolCapacity = 16;
inline constexpr size_t kDefaultZStreamPoolCapacity = 4;

struct ZStreamPoolStats {
    size_t idle_streams = 0;
    size_t idle_bytes = 0;
    size_t hits = 0;    // acquires served from the pool
    size_t misses = 0;  // acquires that created a stream
};

// A freshly reset stream with exactly these params: from this thread's pool
// when one is idle, else newly created. nullptr when zlib cannot allocate.
ZStream* acquire_pooled_zstream(const ZStreamParams& params);
// Gives `stream` back (nullptr is ignored): it is reset and kept when the
// pool has room, the oldest idle stream is destroyed to make room otherwise.
void release_pooled_zstream(ZStream* stream);
// A stream for one message from the pool when `pooled` (no_context_takeover),
// else a new one the caller keeps for the connection's lifetime; and its
// matching release. The deflater and the inflater both go through these.
ZStream* obtain_zstream(const ZStreamParams& params, bool pooled);
void give_back_zstream(ZStream* stream, bool pooled);
// At most kMaxZStreamPoolCapacity; idle streams beyond it are destroyed.
void set_zstream_pool_capacity(size_t capacity);
// Destroys every idle stream of this thread (tests, shutdown).
void clear_zstream_pool();
ZStreamPoolStats zstream_pool_stats();

}  // namespace wsgate::proto
