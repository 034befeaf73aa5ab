// Per-peer counters of one loop: how many handshakes each client address has
// in progress. Keys are 64-bit hashes of addresses (ws/peer_key.hpp); a key
// is present only while its count is above zero, so the table holds at most
// as many keys as there are handshakes in progress.
#pragma once

#include <cstdint>

#include "ws/zero_pages.hpp"

namespace wsgate::ws {

// Open addressing with linear probing and backward-shift deletion (no
// tombstones, so a churn of short-lived keys never degrades probing). The
// capacity is fixed at construction: no allocation after it.
class PeerTable {
  public:
    // Room for max_keys distinct keys at a load factor of at most one half.
    explicit PeerTable(uint32_t max_keys);

    // Adds one to key's count when it is below cap and returns true; returns
    // false (and changes nothing) when the count is already cap or more, or
    // when max_keys keys are present and key is not one of them.
    bool try_add(uint64_t key, uint32_t cap);

    // Takes one from key's count (forgetting the key at zero). The key must
    // have been added: removing an absent key is a caller bug (asserted).
    void remove(uint64_t key);

    uint32_t count(uint64_t key) const;
    uint32_t keys() const { return keys_; }
    uint32_t max_keys() const { return max_keys_; }

  private:
    struct Entry {
        uint64_t key = 0;
        uint32_t count = 0;  // 0: empty
    };

    uint32_t home(uint64_t key) const { return static_cast<uint32_t>(key) & mask_; }
    // The entry holding key, or the empty entry where it would go.
    uint32_t find(uint64_t key) const;

    // Zero pages stay untouched until a key lands on them, so a table sized
    // for many handshakes costs nothing while idle.
    ZeroPages<Entry> entries_;
    uint32_t mask_ = 0;
    uint32_t max_keys_ = 0;
    uint32_t keys_ = 0;
};

}  // namespace wsgate::ws
