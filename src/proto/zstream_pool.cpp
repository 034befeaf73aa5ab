#include "proto/zstream_pool.hpp"

#include <algorithm>
#include <array>

namespace wsgate::proto {

namespace {

// Idle streams, oldest first. Linear scans: the pool is a handful of entries.
struct Pool {
    std::array<ZStream*, kMaxZStreamPoolCapacity> idle{};
    size_t count = 0;
    size_t capacity = kDefaultZStreamPoolCapacity;
    size_t hits = 0;
    size_t misses = 0;

    void remove_at(size_t i) {
        std::copy(idle.begin() + static_cast<std::ptrdiff_t>(i + 1),
                  idle.begin() + static_cast<std::ptrdiff_t>(count),
                  idle.begin() + static_cast<std::ptrdiff_t>(i));
        --count;
    }

    void shrink_to(size_t n) {
        while (count > n) {
            ZStream::destroy(idle[0]);
            remove_at(0);
        }
    }

    ~Pool() { shrink_to(0); }
};

thread_local Pool t_pool;

}  // namespace

ZStream* acquire_pooled_zstream(const ZStreamParams& params) {
    Pool& pool = t_pool;
    // Newest first: its memory is the most likely to still be in cache.
    for (size_t i = pool.count; i-- > 0;) {
        if (pool.idle[i]->params() == params) {
            ZStream* s = pool.idle[i];
            pool.remove_at(i);
            ++pool.hits;
            return s;
        }
    }
    ++pool.misses;
    return ZStream::create(params);
}

ZStream* obtain_zstream(const ZStreamParams& params, bool pooled) {
    return pooled ? acquire_pooled_zstream(params) : ZStream::create(params);
}

void give_back_zstream(ZStream* stream, bool pooled) {
    if (pooled)
        release_pooled_zstream(stream);
    else
        ZStream::destroy(stream);
}

void release_pooled_zstream(ZStream* stream) {
    if (stream == nullptr) return;
    Pool& pool = t_pool;
    if (pool.capacity == 0) {
        ZStream::destroy(stream);
        return;
    }
    stream->reset();
    pool.shrink_to(pool.capacity - 1);
    pool.idle[pool.count++] = stream;
}

void set_zstream_pool_capacity(size_t capacity) {
    Pool& pool = t_pool;
    pool.capacity = std::min(capacity, kMaxZStreamPoolCapacity);
    pool.shrink_to(pool.capacity);
}

void clear_zstream_pool() {
    t_pool.shrink_to(0);
}

ZStreamPoolStats zstream_pool_stats() {
    const Pool& pool = t_pool;
    ZStreamPoolStats stats;
    stats.idle_streams = pool.count;
    for (size_t i = 0; i < pool.count; ++i)
        stats.idle_bytes += pool.idle[i]->bytes();
    stats.hits = pool.hits;
    stats.misses = pool.misses;
    return stats;
}

}  // namespace wsgate::proto
