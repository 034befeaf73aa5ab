// Outgoing bytes of one connection: a list of fixed-size chunks taken from a
// per-loop ChunkPool, so an idle connection holds no output memory and a
// busy one holds only what is queued. gather() exposes the queued bytes as
// iovecs for one sendmsg/writev; consume() drops what the kernel took.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace wsgate::io {

inline constexpr size_t kChunkBytes = 16 * 1024;

struct Chunk {
    Chunk* next = nullptr;
    uint32_t begin = 0;  // first unsent byte
    uint32_t end = 0;    // one past the last queued byte
    uint8_t data[kChunkBytes - 2 * sizeof(uint32_t) - sizeof(Chunk*)];
};
static_assert(sizeof(Chunk) == kChunkBytes);

// Per-loop cache of free chunks (not thread-safe). Keeps at most max_cached
// free chunks; beyond that they go back to the allocator.
class ChunkPool {
  public:
    explicit ChunkPool(size_t max_cached = 256) : max_cached_(max_cached) {}
    ~ChunkPool();
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;

    Chunk* get();
    void put(Chunk* c);
    size_t cached() const { return free_.size(); }
    size_t outstanding() const { return outstanding_; }

  private:
    std::vector<Chunk*> free_;
    size_t max_cached_;
    size_t outstanding_ = 0;
};

class OutQueue {
  public:
    // Appends bytes (copied).
    void append(ChunkPool& pool, std::span<const uint8_t> bytes);
    void append(ChunkPool& pool, const void* data, size_t len) {
        append(pool, std::span<const uint8_t>(static_cast<const uint8_t*>(data), len));
    }
    // Fills up to max iovecs with the queued bytes in order; returns how many.
    size_t gather(iovec* iov, size_t max) const;
    // Drops the first n queued bytes (n <= size()).
    void consume(ChunkPool& pool, size_t n);
    void clear(ChunkPool& pool);
    size_t size() const { return bytes_; }
    bool empty() const { return bytes_ == 0; }

  private:
    Chunk* head_ = nullptr;
    Chunk* tail_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace wsgate::io
