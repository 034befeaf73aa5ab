#include "io/timer_wheel.hpp"

#include <algorithm>
#include <bit>

namespace wsgate::io {

namespace {
constexpr uint32_t kBitsPerWord = 64;
}

TimerWheel::TimerWheel(uint32_t slot_count)
    : slots_(slot_count, kNil),
      occupied_((slot_count + kBitsPerWord - 1) / kBitsPerWord, 0),
      mask_(slot_count - 1) {}

uint32_t TimerWheel::next_busy_tick() const {
    if (pending_ == 0) return kNoTimer;
    if (due_now_) return now_;
    // Timers left in now_'s slot are of later rounds: scan the slots of
    // ticks now_+1 .. now_+slot_count (the last is now_'s slot again), a
    // bitmap word at a time; the first set bit is the nearest busy slot.
    const uint32_t slot_count = mask_ + 1;
    uint32_t offset = 1;
    while (offset <= slot_count) {
        uint32_t slot = (now_ + offset) & mask_;
        uint32_t bit = slot % kBitsPerWord;
        uint64_t word = occupied_[slot / kBitsPerWord] >> bit;
        // Only the bits from `slot` to the end of its word or of the wheel.
        uint32_t span = std::min(kBitsPerWord - bit, slot_count - slot);
        if (span < kBitsPerWord) word &= (uint64_t{1} << span) - 1;
        if (word != 0) return now_ + offset + static_cast<uint32_t>(std::countr_zero(word));
        offset += span;
    }
    return kNoTimer;  // not reached while pending_ > 0
}

bool TimerWheel::scheduled(uint32_t id) const {
    return id < nodes_.size() && nodes_[id].state == State::scheduled;
}

void TimerWheel::link(uint32_t id) {
    Node& n = nodes_[id];
    uint32_t slot = n.deadline & mask_;
    uint32_t& head = slots_[slot];
    occupied_[slot / kBitsPerWord] |= uint64_t{1} << (slot % kBitsPerWord);
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
        uint32_t slot = n.deadline & mask_;
        slots_[slot] = n.next;
        if (n.next == kNil)
            occupied_[slot / kBitsPerWord] &= ~(uint64_t{1} << (slot % kBitsPerWord));
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
    if (deadline_tick <= now_) due_now_ = true;
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
    due_now_ = false;  // everything due by now_tick is collected below
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
