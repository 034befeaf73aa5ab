// One coarse timing wheel per loop. Each id (a connection index) has at most
// one pending deadline, in ticks (the loop uses 100 ms ticks). schedule,
// cancel and firing are O(1) per timer; advancing walks only the slots of the
// ticks that passed. A deadline further away than the wheel's span stays in
// its slot and is skipped until its round comes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsgate::io {

class TimerWheel {
  public:
    // slot_count must be a power of two.
    explicit TimerWheel(uint32_t slot_count = 1024);

    // Sets id's deadline (replacing any earlier one). A deadline at or before
    // the current tick fires on the next advance().
    void schedule(uint32_t id, uint32_t deadline_tick);
    void cancel(uint32_t id);
    bool scheduled(uint32_t id) const;
    uint32_t deadline(uint32_t id) const { return nodes_[id].deadline; }

    // Moves the wheel to now_tick and calls fire(id) for every id whose
    // deadline is <= now_tick, after unscheduling it. fire may schedule or
    // cancel any id; an id rescheduled or cancelled by an earlier fire in the
    // same advance is not fired.
    template <class F>
    void advance(uint32_t now_tick, F&& fire) {
        collect_expired(now_tick);
        for (uint32_t id : expired_) {
            Node& n = nodes_[id];
            if (n.state != State::firing) continue;
            n.state = State::idle;
            fire(id);
        }
        expired_.clear();
    }

    uint32_t now() const { return now_; }
    size_t pending() const { return pending_; }

    // The earliest tick at or after now() whose slot holds a timer, or
    // kNoTimer when none is scheduled. A slot may also hold deadlines of
    // later rounds, so this is a lower bound on the next deadline: a loop
    // that sleeps until then (instead of waking every tick) wakes at worst
    // once per wheel turn for nothing. O(slot_count / 64).
    static constexpr uint32_t kNoTimer = UINT32_MAX;
    uint32_t next_busy_tick() const;

  private:
    static constexpr uint32_t kNil = UINT32_MAX;
    enum class State : uint8_t { idle, scheduled, firing };
    struct Node {
        uint32_t prev = kNil;
        uint32_t next = kNil;
        uint32_t deadline = 0;
        State state = State::idle;
    };
    void link(uint32_t id);
    void unlink(uint32_t id);
    void collect_expired(uint32_t now_tick);

    std::vector<uint32_t> slots_;     // head id of each slot's list
    std::vector<uint64_t> occupied_;  // bit per slot: its list is not empty
    std::vector<Node> nodes_;         // grown on demand to the highest id used
    std::vector<uint32_t> expired_;
    uint32_t mask_;
    uint32_t now_ = 0;
    size_t pending_ = 0;
    bool due_now_ = false;  // a timer was scheduled at or before now_ since the last advance
};

}  // namespace wsgate::io
