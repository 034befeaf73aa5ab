#include "ws/peer_table.hpp"

#include <bit>
#include <cassert>
#include <new>

namespace wsgate::ws {

namespace {
constexpr uint32_t kMinSlots = 16;
constexpr uint32_t kMaxKeys = 1u << 30;  // so that 2 * max_keys fits in 32 bits
}  // namespace

PeerTable::PeerTable(uint32_t max_keys) {
    if (max_keys == 0) max_keys = 1;
    if (max_keys > kMaxKeys) max_keys = kMaxKeys;
    uint32_t slots = std::bit_ceil(2 * max_keys);
    if (slots < kMinSlots) slots = kMinSlots;
    entries_.allocate(slots);
    mask_ = slots - 1;
    max_keys_ = max_keys;
}

uint32_t PeerTable::find(uint64_t key) const {
    // At most half the slots are used, so an empty slot ends every probe.
    uint32_t i = home(key);
    while (entries_[i].count != 0 && entries_[i].key != key)
        i = (i + 1) & mask_;
    return i;
}

uint32_t PeerTable::count(uint64_t key) const {
    return entries_[find(key)].count;
}

bool PeerTable::try_add(uint64_t key, uint32_t cap) {
    Entry& e = entries_[find(key)];
    if (e.count >= cap) return false;
    if (e.count == 0) {
        if (keys_ == max_keys_) return false;
        e.key = key;
        ++keys_;
    }
    ++e.count;
    return true;
}

void PeerTable::remove(uint64_t key) {
    uint32_t i = find(key);
    assert(entries_[i].count != 0);
    if (entries_[i].count == 0) return;
    if (--entries_[i].count != 0) return;
    --keys_;
    // Backward-shift deletion: pull later entries of the probe run into the
    // hole unless that would move one before its home slot.
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask_; entries_[j].count != 0; j = (j + 1) & mask_) {
        uint32_t h = home(entries_[j].key);
        // Distance from home to j vs from home to hole (cyclic): the entry may
        // move to the hole only if the hole lies on its probe path.
        if (((j - h) & mask_) >= ((j - hole) & mask_)) {
            entries_[hole] = entries_[j];
            hole = j;
        }
    }
    entries_[hole] = Entry{};
}

}  // namespace wsgate::ws
