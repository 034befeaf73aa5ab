// A loop's channels by name: entries in a vector (ids stay stable while an
// entry lives, and are reused after it goes), found through an open
// addressing index of (XXH3 hash, id) pairs with linear probing and
// backward-shift deletion (no tombstones: subscribe/unsubscribe churn never
// degrades probing). The index doubles at a load of one half.
#pragma once

#include <xxhash.h>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsgate::pubsub {

// XXH3 of a channel name: the table's key and the choice of home loop.
inline uint64_t channel_hash(std::string_view name) {
    return XXH3_64bits(name.data(), name.size());
}

template <class E>
concept ChannelEntry = std::default_initializable<E> && requires(E& e) {
    { e.name } -> std::convertible_to<std::string_view>;
    { e.hash } -> std::convertible_to<uint64_t>;
};

template <ChannelEntry Entry>
class ChannelTable {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;

    ChannelTable() { index_.assign(16, Slot{}); }

    uint32_t find(std::string_view name, uint64_t hash) const {
        for (uint32_t i = static_cast<uint32_t>(hash) & mask();; i = (i + 1) & mask()) {
            const Slot& s = index_[i];
            if (s.id == kNone) return kNone;
            if (s.hash == hash && entries_[s.id].name == name) return s.id;
        }
    }

    // Adds an entry for `name` (which must not be present); returns its id.
    uint32_t insert(std::string_view name, uint64_t hash) {
        if ((size_ + 1) * 2 > index_.size()) grow();
        uint32_t id;
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
            entries_[id] = Entry{};
        } else {
            id = static_cast<uint32_t>(entries_.size());
            entries_.emplace_back();
        }
        entries_[id].name.assign(name);
        entries_[id].hash = hash;
        place(hash, id);
        ++size_;
        return id;
    }

    void erase(uint32_t id) {
        uint64_t hash = entries_[id].hash;
        uint32_t i = static_cast<uint32_t>(hash) & mask();
        while (index_[i].id != id)
            i = (i + 1) & mask();
        // Backward shift: move later members of the probe run into the gap.
        for (uint32_t j = (i + 1) & mask();; j = (j + 1) & mask()) {
            if (index_[j].id == kNone) break;
            uint32_t want = static_cast<uint32_t>(index_[j].hash) & mask();
            // index_[j] may fill the gap at i unless its home lies in (i, j].
            bool home_between = i <= j ? (want > i && want <= j) : (want > i || want <= j);
            if (!home_between) {
                index_[i] = index_[j];
                i = j;
            }
        }
        index_[i] = Slot{};
        entries_[id] = Entry{};  // frees the name and whatever the entry held
        free_.push_back(id);
        --size_;
    }

    Entry& operator[](uint32_t id) { return entries_[id]; }
    const Entry& operator[](uint32_t id) const { return entries_[id]; }
    uint32_t size() const { return size_; }
    // Ids below this may name an entry (present or freed: its name is empty).
    uint32_t capacity() const { return static_cast<uint32_t>(entries_.size()); }

    // f(id, entry) for every entry present.
    template <class F>
    void for_each(F&& f) {
        for (const Slot& s : index_) {
            if (s.id != kNone) f(s.id, entries_[s.id]);
        }
    }

  private:
    struct Slot {
        uint64_t hash = 0;
        uint32_t id = kNone;
    };

    uint32_t mask() const { return static_cast<uint32_t>(index_.size() - 1); }

    void place(uint64_t hash, uint32_t id) {
        uint32_t i = static_cast<uint32_t>(hash) & mask();
        while (index_[i].id != kNone)
            i = (i + 1) & mask();
        index_[i] = Slot{hash, id};
    }

    void grow() {
        std::vector<Slot> old = std::exchange(index_, std::vector<Slot>(index_.size() * 2));
        for (const Slot& s : old) {
            if (s.id != kNone) place(s.hash, s.id);
        }
    }

    std::vector<Slot> index_;
    std::vector<Entry> entries_;
    std::vector<uint32_t> free_;
    uint32_t size_ = 0;
};

}  // namespace wsgate::pubsub
