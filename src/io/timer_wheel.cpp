#include "io/timer_wheel.hpp"

namespace wsgate::io {

TimerWheel::TimerWheel(uint32_t slot_count) : slots_(slot_count, kNil), mask_(slot_count - 1) {}

bool TimerWheel::scheduled(uint32_t id) const {
    return id < nodes_.size() && nodes_[id].state == State::scheduled;
}

void TimerWheel::link(uint32_t id) {
    Node& n = nodes_[id];
    uint32_t& head = slots_[n.deadline & mask_];
    n.prev = kNil;
    n.next = head;
    if (head != kNil) nodes_[head].prev = id;
    head = id;
    n.state = State::scheduled;
    ++pending_;
}

void TimerWheel::unlink(uint32_t id) {
    Node& n = nodes_[id];
    if (n.prev != kNil) {
        nodes_[n.prev].next = n.next;
    } else {
        slots_[n.deadline & mask_] = n.next;
    }
    if (n.next != kNil) nodes_[n.next].prev = n.prev;
    n.prev = n.next = kNil;
    n.state = State::idle;
    --pending_;
}

void TimerWheel::schedule(uint32_t id, uint32_t deadline_tick) {
    if (id >= nodes_.size()) nodes_.resize(size_t{id} + 1);
    if (nodes_[id].state == State::scheduled) unlink(id);
    // A deadline in the past goes into the current slot so it fires next time.
    nodes_[id].deadline = deadline_tick < now_ ? now_ : deadline_tick;
    link(id);
}

void TimerWheel::cancel(uint32_t id) {
    if (id >= nodes_.size()) return;
    if (nodes_[id].state == State::scheduled) {
        unlink(id);
    } else {
        nodes_[id].state = State::idle;
    }
}

void TimerWheel::collect_expired(uint32_t now_tick) {
    if (now_tick < now_) return;
    // Visit the slot of every tick in [now_, now_tick]; one full turn covers all.
    uint64_t span = uint64_t{now_tick} - now_ + 1;
    if (span > slots_.size()) span = slots_.size();
    for (uint64_t k = 0; k < span; ++k) {
        uint32_t slot = static_cast<uint32_t>((now_ + k) & mask_);
        uint32_t id = slots_[slot];
        while (id != kNil) {
            uint32_t next = nodes_[id].next;
            if (nodes_[id].deadline <= now_tick) {
                unlink(id);
                nodes_[id].state = State::firing;
                expired_.push_back(id);
            }
            id = next;
        }
    }
    now_ = now_tick;
}

}  // namespace wsgate::io
