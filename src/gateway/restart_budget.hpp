// Crash-loop guard for --workers: how many worker restarts a sliding time
// window allows before the supervisor gives up on the whole set.
#pragma once

#include <cstdint>
#include <deque>

namespace wsgate::gateway {

// A worker that dies is restarted while fewer than max_restarts restarts
// happened within the last window_ms; one more death inside the window
// means the workers cannot stay up (a bad host, a bug hit by every
// connection) and restarting them only hides it. Times are caller-supplied
// milliseconds from a monotonic clock.
class RestartBudget {
  public:
    RestartBudget(uint32_t max_restarts, int64_t window_ms)
        : max_restarts_(max_restarts), window_ms_(window_ms) {}

    // Records a death at now_ms. Returns true if the worker may be restarted
    // (the restart is counted), false if the budget is spent.
    bool allow(int64_t now_ms) {
        while (!restarts_.empty() && now_ms - restarts_.front() >= window_ms_)
            restarts_.pop_front();
        if (restarts_.size() >= max_restarts_) return false;
        restarts_.push_back(now_ms);
        return true;
    }

    uint32_t max_restarts() const { return max_restarts_; }
    int64_t window_ms() const { return window_ms_; }

  private:
    uint32_t max_restarts_;
    int64_t window_ms_;
    std::deque<int64_t> restarts_;  // times of the restarts within the window
};

}  // namespace wsgate::gateway
