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

// Two chunk sizes: a small one for control frames, handshake responses and
// short messages (so a tick that pings thousands of idle connections does
// not take a 16 KiB chunk for each 2-byte ping), a large one for bulk data.
inline constexpr size_t kSmallChunkBytes = 512;
inline constexpr size_t kLargeChunkBytes = 16 * 1024;

struct Chunk {
    Chunk* next = nullptr;
    uint32_t begin = 0;     // first unsent byte
    uint32_t end = 0;       // one past the last queued byte
    uint32_t capacity = 0;  // payload bytes after the header
    uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
};
static_assert(sizeof(Chunk) == 24);

// Per-loop cache of free chunks of both sizes (not thread-safe). Keeps at
// most max_cached free chunks of each size; beyond that they go back to
// the allocator.
class ChunkPool {
  public:
    explicit ChunkPool(size_t max_cached = 64) : max_cached_(max_cached) {}
    ~ChunkPool();
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;

    // A chunk whose capacity is at least min_payload when that fits a small
    // chunk, else a large one.
    Chunk* get(size_t min_payload);
    void put(Chunk* c);
    size_t outstanding() const { return outstanding_; }

  private:
    std::vector<Chunk*> free_small_;
    std::vector<Chunk*> free_large_;
    size_t max_cached_;
    size_t outstanding_ = 0;
};

// The owner must clear() a non-empty queue before dropping it (the queue
// holds no pointer to its pool, to stay small in every connection record).
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
