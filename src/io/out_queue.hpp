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

#include "io/shared_bytes.hpp"

namespace wsgate::io {

// Two chunk sizes: a small one for control frames, handshake responses and
// short messages (so a tick that pings thousands of idle connections does
// not take a 16 KiB chunk for each 2-byte ping), a large one for bulk data.
inline constexpr size_t kSmallChunkBytes = 512;
inline constexpr size_t kLargeChunkBytes = 16 * 1024;

// A chunk either owns its bytes (they follow the header) or, for zero-copy
// sends, refers to bytes owned elsewhere; `lent` says by whom:
//   kOwnedChunk   the chunk's own bytes
//   kSharedChunk  a SharedBytes (io/shared_bytes.hpp) whose bytes start at
//                 `base`; the chunk holds one reference to it
//   anything else the id of a receive buffer lent by the loop's backend,
//                 given back through the pool's LendRelease
// Whatever the owner, ChunkPool::put is the one place the bytes are given
// back, once the chunk is sent or its queue is cleared.
inline constexpr uint32_t kOwnedChunk = UINT32_MAX;
inline constexpr uint32_t kSharedChunk = UINT32_MAX - 1;

struct Chunk {
    Chunk* next = nullptr;
    uint8_t* base = nullptr;  // owned: right after this header; lent: the lender's bytes
    uint32_t begin = 0;       // first unsent byte
    uint32_t end = 0;         // one past the last queued byte
    uint32_t capacity = 0;    // owned: payload bytes after the header; otherwise == end (full)
    uint32_t lent = kOwnedChunk;
    uint8_t* data() { return base; }
    bool lent_buffer() const { return lent != kOwnedChunk && lent != kSharedChunk; }
};
static_assert(sizeof(Chunk) == 32);

// Gives lent bytes back (e.g. a receive buffer to its ring) once no queued
// chunk refers to them any more: called once per lent chunk.
struct LendRelease {
    void (*fn)(void* context, uint32_t id) = nullptr;
    void* context = nullptr;
};

// Per-loop cache of free chunks of both sizes (not thread-safe). Keeps at
// most max_cached free chunks of each size; beyond that they go back to
// the allocator.
class ChunkPool {
  public:
    static constexpr size_t kUncapped = SIZE_MAX;  // keep every chunk until trim()

    explicit ChunkPool(size_t max_cached = 64) : max_cached_(max_cached) {}
    ~ChunkPool();
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;

    // A chunk whose capacity is at least min_payload when that fits a small
    // chunk, else a large one.
    Chunk* get(size_t min_payload);
    // A chunk referring to data[0, len) lent under `id` (not copied).
    Chunk* get_lent(uint8_t* data, uint32_t len, uint32_t id);
    // A chunk referring to all of `bytes` (not copied); takes a reference.
    Chunk* get_shared(SharedBytes& bytes);
    // Returns a chunk; a lent one's bytes go back through the LendRelease,
    // a shared one drops its reference.
    void put(Chunk* c);
    size_t outstanding() const { return outstanding_; }
    // Chunks kept for reuse (not outstanding).
    size_t cached() const { return free_small_.size() + free_large_.size() + free_lent_.size(); }
    // Frees every cached chunk (a loop that went quiet after a peak).
    void trim();

    void set_lend_release(LendRelease release) { release_ = release; }

  private:
    std::vector<Chunk*> free_small_;
    std::vector<Chunk*> free_large_;
    Chunk* get_header();
    std::vector<Chunk*> free_lent_;  // bare headers (lent and shared chunks)
    LendRelease release_;
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
    // Appends lent bytes by reference (no copy): the lender must keep
    // data[0, len) unchanged until the pool's LendRelease gives `id` back.
    void append_lent(ChunkPool& pool, uint8_t* data, size_t len, uint32_t id);
    // Appends all of `bytes` by reference (no copy): the queue holds a
    // reference until those bytes are sent or the queue is cleared.
    void append_shared(ChunkPool& pool, SharedBytes& bytes);
    // Fills up to max iovecs with the queued bytes in order; returns how many.
    size_t gather(iovec* iov, size_t max) const;
    // Drops the first n queued bytes (n <= size()).
    void consume(ChunkPool& pool, size_t n);
    void clear(ChunkPool& pool);
    size_t size() const { return bytes_; }
    bool empty() const { return bytes_ == 0; }
    // Lent receive-buffer chunks queued (a cap on what one slow reader may
    // hold of the receive ring; shared chunks hold no receive buffer).
    uint32_t lent_chunks() const { return lent_; }

  private:
    void link(Chunk* c);

    Chunk* head_ = nullptr;
    Chunk* tail_ = nullptr;
    size_t bytes_ = 0;
    uint32_t lent_ = 0;
};
static_assert(sizeof(OutQueue) <= 32, "OutQueue is in every connection record");

}  // namespace wsgate::io
