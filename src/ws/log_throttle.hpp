// Rate limit for log lines that a peer can trigger at any rate (one per
// refused connection): a flood of them would cost more than the refusals.
#pragma once

#include <cstdint>

namespace wsgate::ws {

// Counts events and says when one log line should report them: the first
// event at once, later ones at most once per interval, each line carrying
// the number of events since the previous line. Times are caller-supplied
// milliseconds from any monotonic clock. One per loop thread; not shared.
class LogThrottle {
  public:
    explicit LogThrottle(int64_t interval_ms) : interval_ms_(interval_ms) {}

    // Records one event at now_ms. Returns the number of events (this one
    // included) the caller should log now, or 0 while within the interval
    // since the previous line (the event is then kept for the next line).
    uint64_t note(int64_t now_ms) {
        ++pending_;
        if (logged_ && now_ms - last_line_ms_ < interval_ms_) return 0;
        return take(now_ms);
    }

    // Returns the events not yet reported and forgets them (for a final line
    // at shutdown); 0 if there are none.
    uint64_t take(int64_t now_ms) {
        uint64_t n = pending_;
        pending_ = 0;
        if (n != 0) {
            since_ms_ = logged_ ? now_ms - last_line_ms_ : 0;
            last_line_ms_ = now_ms;
            logged_ = true;
        }
        return n;
    }

    // Milliseconds the count returned by the last note()/take() covers: the
    // time since the line before it (0 for the first line).
    int64_t covered_ms() const { return since_ms_; }

  private:
    int64_t interval_ms_;
    int64_t last_line_ms_ = 0;
    int64_t since_ms_ = 0;
    uint64_t pending_ = 0;
    bool logged_ = false;
};

}  // namespace wsgate::ws
