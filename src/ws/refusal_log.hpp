// Log lines for refusals (HTTP error answers to a request head, 503 over the
// connection limit, dropped slow handshakes), which a peer can trigger at any
// rate: one line each would cost more than the refusals themselves.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "io/log.hpp"

namespace wsgate::ws {

// Per status code, in windows of interval_ms: the first refusal of a window
// is written in full (fd, status, reason) at once; later ones in the window
// are counted, and one summary line at the window's end gives their number
// and the latest reason. So each status costs at most two lines per
// interval, and the counts of the full lines (1 each) and the summaries add
// up to the number of refusals. Times are caller-supplied milliseconds from
// a monotonic clock. One per loop thread; not shared. Reasons must be static
// text (they are kept until the summary).
class RefusalLog {
  public:
    explicit RefusalLog(int64_t interval_ms) : interval_ms_(interval_ms) {}

    void note(FILE* out, int64_t now_ms, int fd, int status, std::string_view reason,
              io::RequestId conn = io::kNoConn) {
        Kind& k = kind(status);
        if (k.window_open && now_ms - k.window_start_ms < interval_ms_) {
            ++k.held;
            k.latest = reason;
            return;
        }
        summarize(out, k, now_ms);
        io::log_to(out, io::LogLevel::info, "refused", conn,
                   {{"fd", fd}, {"status", status}, {"reason", reason}}, "refused fd %d: %d %.*s",
                   fd, status, static_cast<int>(reason.size()), reason.data());
        k.window_open = true;
        k.window_start_ms = now_ms;
    }

    // Writes the summaries of the windows that have ended (call at least once
    // per interval while refusals happen, so a burst's tail is not held back).
    void flush_due(FILE* out, int64_t now_ms) {
        for (Kind& k : kinds_) {
            if (k.window_open && now_ms - k.window_start_ms >= interval_ms_)
                summarize(out, k, now_ms);
        }
    }

    // When flush_due next has a summary to write, or kNothingDue (so a loop
    // with nothing else to wait for can still sleep for ever).
    static constexpr int64_t kNothingDue = INT64_MAX;
    int64_t next_due_ms() const {
        int64_t due = kNothingDue;
        for (const Kind& k : kinds_) {
            if (k.window_open && k.held != 0) due = std::min(due, k.window_start_ms + interval_ms_);
        }
        return due;
    }

    // Writes every summary still pending (at shutdown).
    void flush_all(FILE* out, int64_t now_ms) {
        for (Kind& k : kinds_)
            summarize(out, k, now_ms);
    }

  private:
    struct Kind {
        int status = 0;  // 0: unused
        bool window_open = false;
        int64_t window_start_ms = 0;
        uint64_t held = 0;  // refusals since the window's full line
        std::string_view latest;
    };

    // The entry for status; statuses beyond the table share its last entry
    // (the gateway refuses with fewer distinct statuses than that).
    Kind& kind(int status) {
        for (Kind& k : kinds_) {
            if (k.status == status) return k;
            if (k.status == 0) {
                k.status = status;
                return k;
            }
        }
        kinds_.back().status = status;
        return kinds_.back();
    }

    void summarize(FILE* out, Kind& k, int64_t now_ms) {
        if (k.window_open && k.held != 0) {
            io::count_suppressed_lines(k.held);
            io::log_to(out, io::LogLevel::info, "refused", io::kNoConn,
                       {{"status", k.status}, {"suppressed", k.held}, {"reason", k.latest}},
                       "refused %llu more with %d in the last %.1f s (latest: %.*s)",
                       static_cast<unsigned long long>(k.held), k.status,
                       static_cast<double>(now_ms - k.window_start_ms) / 1000.0,
                       static_cast<int>(k.latest.size()), k.latest.data());
        }
        k.window_open = false;
        k.held = 0;
    }

    static constexpr size_t kKinds = 16;
    int64_t interval_ms_;
    std::array<Kind, kKinds> kinds_{};
};

}  // namespace wsgate::ws
