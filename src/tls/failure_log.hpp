// Log lines for connections closed by a TLS failure, which a peer can cause
// at any rate. In windows of interval_ms: the first failure of a window is
// written in full at once (fd, OpenSSL's reason); later ones are counted,
// and one summary line at the window's end gives their number and the
// latest reason (as ws::RefusalLog does for HTTP refusals). So the full
// lines and the summaries add up to the number of failures, at most two
// lines per interval. Reasons must be static text. One per loop; not shared.
#pragma once

#include <cstdint>
#include <cstdio>

#include "io/log.hpp"

namespace wsgate::tls {

class FailureLog {
  public:
    static constexpr int64_t kNothingDue = INT64_MAX;

    explicit FailureLog(int64_t interval_ms) : interval_ms_(interval_ms) {}

    void note(FILE* out, int64_t now_ms, int fd, const char* reason,
              io::RequestId conn = io::kNoConn) {
        if (window_open_ && now_ms - window_start_ms_ < interval_ms_) {
            ++held_;
            latest_ = reason;
            return;
        }
        summarize(out, now_ms);
        io::log_to(out, io::LogLevel::info, "tls_failure", conn, {{"fd", fd}, {"reason", reason}},
                   "TLS fd %d closed: %s", fd, reason);
        window_open_ = true;
        window_start_ms_ = now_ms;
    }

    // Writes the summary of a window that has ended.
    void flush_due(FILE* out, int64_t now_ms) {
        if (window_open_ && now_ms - window_start_ms_ >= interval_ms_) summarize(out, now_ms);
    }

    // When flush_due next has a summary to write, or kNothingDue.
    int64_t next_due_ms() const {
        return window_open_ && held_ != 0 ? window_start_ms_ + interval_ms_ : kNothingDue;
    }

  private:
    void summarize(FILE* out, int64_t now_ms) {
        if (window_open_ && held_ != 0) {
            io::count_suppressed_lines(held_);
            io::log_to(out, io::LogLevel::info, "tls_failure", io::kNoConn,
                       {{"suppressed", held_}, {"reason", latest_}},
                       "TLS: %llu more connections closed in the last %.1f s (latest: %s)",
                       static_cast<unsigned long long>(held_),
                       static_cast<double>(now_ms - window_start_ms_) / 1000.0, latest_);
        }
        window_open_ = false;
        held_ = 0;
    }

    int64_t interval_ms_;
    int64_t window_start_ms_ = 0;
    uint64_t held_ = 0;
    const char* latest_ = "";
    bool window_open_ = false;
};

}  // namespace wsgate::tls
