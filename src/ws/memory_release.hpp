// When a loop hands freed memory back to the operating system. An allocator
// keeps the pages it freed for reuse; after an attack (thousands of clients
// queueing output, then leaving) that can be gigabytes nobody uses again
// soon, on a box whose memory other services need.
#pragma once

#include <cstdint>

namespace wsgate::ws {

// Watches one figure of what a loop holds (connections plus queued output
// chunks) once per turn. When it has fallen to half of its peak since the
// last release, by at least min_drop, a release is due `delay_ticks` later:
// the loop then frees its caches and asks the allocator to return free
// pages, and the peak restarts from the figure at that moment. Steady
// traffic never triggers it, so it costs nothing per message; a loop that
// sleeps uses due_tick() to wake up for it.
class MemoryReleaseTimer {
  public:
    static constexpr uint32_t kNotDue = UINT32_MAX;

    MemoryReleaseTimer(uint32_t delay_ticks, uint64_t min_drop)
        : delay_ticks_(delay_ticks), min_drop_(min_drop) {}

    // Notes the figure held at now_tick; returns true when the release is due.
    bool note(uint64_t held, uint32_t now_tick) {
        if (held > peak_) peak_ = held;
        if (due_tick_ == kNotDue) {
            uint64_t drop = peak_ - held;
            if (drop >= min_drop_ && drop * 2 >= peak_) due_tick_ = now_tick + delay_ticks_;
            return false;
        }
        if (now_tick < due_tick_) return false;
        due_tick_ = kNotDue;
        peak_ = held;
        return true;
    }

    // A new delay for releases that become due from now on.
    void set_delay(uint32_t delay_ticks) { delay_ticks_ = delay_ticks; }

    // The tick a pending release is due, or kNotDue.
    uint32_t due_tick() const { return due_tick_; }

  private:
    uint32_t delay_ticks_;
    uint64_t min_drop_;
    uint64_t peak_ = 0;
    uint32_t due_tick_ = kNotDue;
};

}  // namespace wsgate::ws
