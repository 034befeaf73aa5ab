// A name for one connection that an application may keep, copy and send
// across loops: (loop, slot index, slot generation) packed in one 64-bit
// word. A handle outlives its connection safely: the slot's generation is
// bumped when the connection is released (io/slot_pool.hpp), so a stale
// handle no longer resolves and is never dereferenced.
//
// Aliasing window: generations are kGenerationBits (24) wide, so a handle
// could resolve again only after its slot has been reused exactly 2^24
// times in between (16.7 million connections through one slot).
#pragma once

#include <compare>
#include <cstdint>

#include "io/slot_pool.hpp"
#include "io/user_data.hpp"

namespace wsgate::ws {

class ConnectionHandle {
  public:
    static constexpr unsigned kLoopBits = 8;
    static constexpr uint32_t kMaxLoops = 1u << kLoopBits;

    // The empty handle: resolves to no connection on any loop.
    constexpr ConnectionHandle() = default;
    constexpr ConnectionHandle(uint32_t loop, uint32_t index, uint32_t generation)
        : bits_((uint64_t{loop & (kMaxLoops - 1)} << kLoopShift) |
                (uint64_t{generation & io::kGenerationMask} << kGenerationShift) | index) {}

    constexpr uint32_t loop() const { return static_cast<uint32_t>(bits_ >> kLoopShift); }
    constexpr uint32_t index() const { return static_cast<uint32_t>(bits_); }
    constexpr uint32_t generation() const {
        return static_cast<uint32_t>(bits_ >> kGenerationShift) & io::kGenerationMask;
    }
    constexpr bool empty() const { return bits_ == kEmptyBits; }

    // The packed word (to store in one uint64_t of application state, or to
    // carry in an inbox message) and back.
    constexpr uint64_t bits() const { return bits_; }
    static constexpr ConnectionHandle from_bits(uint64_t bits) {
        ConnectionHandle h;
        h.bits_ = bits;
        return h;
    }

    constexpr auto operator<=>(const ConnectionHandle&) const = default;

  private:
    static constexpr unsigned kGenerationShift = 32;
    static constexpr unsigned kLoopShift = kGenerationShift + io::kGenerationBits;
    static_assert(kLoopShift + kLoopBits == 64, "loop, generation and index fill one word");
    // Index UINT32_MAX is never a slot (SlotPool::kNone), so this is no handle.
    static constexpr uint64_t kEmptyBits = UINT32_MAX;

    uint64_t bits_ = kEmptyBits;
};
static_assert(sizeof(ConnectionHandle) == sizeof(uint64_t));

// The live record `handle` names in `pool`, the connection table of loop
// `loop`; nullptr when the handle is empty, names another loop, or is stale
// (its connection was released, whatever now occupies the slot).
template <class Record>
Record* resolve(io::SlotPool<Record>& pool, uint32_t loop, ConnectionHandle handle) {
    if (handle.loop() != loop) return nullptr;
    return pool.find(handle.index(), handle.generation());
}

}  // namespace wsgate::ws
