// The connections of one loop that are reading a request head (handshakes in
// progress), in lists, oldest first: those that have not sent a byte of
// their head yet (or were just accepted and not read), those that sent part
// of one and stopped short (the slow-loris pattern; under load the loop
// drops from this list first), and those on probation (accepted at the
// limit with no slot, see ws/server_loop.hpp). Each entry remembers when it
// started (milliseconds modulo 2^32, loop turn) and the peer key it counts under. push,
// mark_partial, remove and oldest are O(1); nodes are indexed by connection index and grow with the
// highest index seen (no allocation once warm).
#pragma once

#include <cstdint>
#include <vector>

namespace wsgate::ws {

class HandshakeQueue {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;
    enum class List : uint8_t { waiting, partial, probation };

    // Appends id (not already queued) as the newest entry of `list`.
    void push(uint32_t id, uint32_t start_ms, uint32_t start_turn, uint64_t peer, bool has_peer,
              List list = List::waiting) {
        if (id >= nodes_.size()) nodes_.resize(id + 1);
        Node& n = nodes_[id];
        n.start_ms = start_ms;
        n.start_turn = start_turn;
        n.peer = peer;
        n.has_peer = has_peer;
        n.queued = true;
        link(id, list);
    }

    // Moves a waiting id to the end of the partial list (start kept); no-op
    // for any other id.
    void mark_partial(uint32_t id) {
        if (!queued(id) || nodes_[id].list != List::waiting) return;
        unlink(id);
        link(id, List::partial);
    }

    // Unlinks id; false when it was not queued.
    bool remove(uint32_t id) {
        if (!queued(id)) return false;
        unlink(id);
        nodes_[id].queued = false;
        return true;
    }

    bool queued(uint32_t id) const { return id < nodes_.size() && nodes_[id].queued; }
    bool in(uint32_t id, List list) const { return queued(id) && nodes_[id].list == list; }
    uint32_t oldest(List list) const { return ends_[index(list)].head; }
    // The entry started first, waiting or partial; kNone when there is none.
    uint32_t oldest() const {
        uint32_t w = oldest(List::waiting), p = oldest(List::partial);
        if (w == kNone) return p;
        if (p == kNone) return w;
        // Milliseconds modulo 2^32: compared by their difference.
        return static_cast<int32_t>(nodes_[p].start_ms - nodes_[w].start_ms) < 0 ? p : w;
    }
    uint32_t start_ms(uint32_t id) const { return nodes_[id].start_ms; }
    uint32_t start_turn(uint32_t id) const { return nodes_[id].start_turn; }
    bool has_peer(uint32_t id) const { return nodes_[id].has_peer; }
    uint64_t peer(uint32_t id) const { return nodes_[id].peer; }
    uint32_t size(List list) const { return ends_[index(list)].size; }
    // Entries in all lists.
    uint32_t size() const { return ends_[0].size + ends_[1].size + ends_[2].size; }

  private:
    struct Node {
        uint32_t prev = kNone;
        uint32_t next = kNone;
        uint32_t start_ms = 0;
        uint32_t start_turn = 0;
        uint64_t peer = 0;
        bool has_peer = false;
        bool queued = false;
        List list = List::waiting;
    };
    struct Ends {
        uint32_t head = kNone;
        uint32_t tail = kNone;
        uint32_t size = 0;
    };
    static size_t index(List list) { return static_cast<size_t>(list); }

    void link(uint32_t id, List list) {
        Node& n = nodes_[id];
        Ends& e = ends_[index(list)];
        n.list = list;
        n.prev = e.tail;
        n.next = kNone;
        if (e.tail != kNone) {
            nodes_[e.tail].next = id;
        } else {
            e.head = id;
        }
        e.tail = id;
        ++e.size;
    }

    void unlink(uint32_t id) {
        Node& n = nodes_[id];
        Ends& e = ends_[index(n.list)];
        if (n.prev != kNone) {
            nodes_[n.prev].next = n.next;
        } else {
            e.head = n.next;
        }
        if (n.next != kNone) {
            nodes_[n.next].prev = n.prev;
        } else {
            e.tail = n.prev;
        }
        --e.size;
    }

    std::vector<Node> nodes_;
    Ends ends_[3];
};

}  // namespace wsgate::ws
