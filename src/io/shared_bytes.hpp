// Immutable bytes that many output queues of one loop send by reference:
// one allocation holding a reference count and the size right in front of
// the bytes, written once by whoever creates it (e.g. a serialised
// WebSocket frame, header and payload, for every subscriber of a channel)
// and freed when the last reference is dropped.
//
// The count is a plain integer, not an atomic: a SharedBytes belongs to
// the loop (thread) that created it, and only that loop's queues refer to
// it. What crosses loops is the source of the bytes (a publication through
// the receiving loop's inbox); each loop builds its own SharedBytes from it
// once, so the per-subscriber path never pays for a locked instruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace wsgate::io {

class SharedBytes {
  public:
    // A new buffer of `size` bytes (uninitialised; fill them through
    // bytes() before the first queue refers to it), with one reference held
    // by the caller. size must fit in 32 bits (queued chunks count in 32).
    static SharedBytes* create(size_t size);
    // A new buffer holding a copy of `bytes`, with one reference.
    static SharedBytes* copy_of(std::span<const uint8_t> bytes);

    // The SharedBytes whose bytes begin at `data` (data == bytes().data()).
    static SharedBytes* from_data(uint8_t* data) {
        return reinterpret_cast<SharedBytes*>(data - sizeof(SharedBytes));
    }

    uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
    std::span<uint8_t> bytes() { return {data(), size_}; }
    uint32_t size() const { return size_; }
    uint32_t references() const { return refs_; }

    void retain() { ++refs_; }
    // Drops one reference; frees the buffer with the last one.
    void release() {
        if (--refs_ == 0) destroy();
    }

    // Buffers created and not yet freed by this thread (tests and stats:
    // a leak shows as a count that does not return to its start).
    static size_t live_on_this_thread();

  private:
    SharedBytes() = default;
    void destroy();

    uint32_t refs_ = 1;
    uint32_t size_ = 0;
};
// The bytes follow the header directly and keep 8-byte alignment.
static_assert(sizeof(SharedBytes) == 8 && alignof(SharedBytes) <= 8);

// One owned reference (move-only): what an application holds while it
// queues the bytes on connections; the queues take references of their own.
class SharedBytesRef {
  public:
    SharedBytesRef() = default;
    // Adopts the reference `bytes` carries (from create/copy_of).
    explicit SharedBytesRef(SharedBytes* bytes) : bytes_(bytes) {}
    SharedBytesRef(SharedBytesRef&& other) noexcept
        : bytes_(std::exchange(other.bytes_, nullptr)) {}
    SharedBytesRef& operator=(SharedBytesRef&& other) noexcept {
        if (this != &other) {
            reset();
            bytes_ = std::exchange(other.bytes_, nullptr);
        }
        return *this;
    }
    SharedBytesRef(const SharedBytesRef&) = delete;
    SharedBytesRef& operator=(const SharedBytesRef&) = delete;
    ~SharedBytesRef() { reset(); }

    SharedBytes* get() const { return bytes_; }
    SharedBytes* operator->() const { return bytes_; }
    explicit operator bool() const { return bytes_ != nullptr; }
    void reset() {
        if (bytes_ != nullptr) std::exchange(bytes_, nullptr)->release();
    }

  private:
    SharedBytes* bytes_ = nullptr;
};

}  // namespace wsgate::io
