#pragma once
// The clocks a wsload worker reads: monotonic time for deadlines and
// latencies, and its own CPU time (user + system) for the measured window.

#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <ctime>

namespace wsgate::bench {

inline constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

inline std::uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerSecond +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t cpu_ns() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto ns = [](const timeval& tv) {
        return static_cast<std::uint64_t>(tv.tv_sec) * kNsPerSecond +
               static_cast<std::uint64_t>(tv.tv_usec) * 1000;
    };
    return ns(ru.ru_utime) + ns(ru.ru_stime);
}

// The measured phase as a worker sees it: whether it is on, and the worker's
// CPU time over it (stored when it closes).
class MeasureWindow {
  public:
    bool on() const { return on_; }
    void open() {
        on_ = true;
        cpu_at_open_ = cpu_ns();
    }
    void close(std::atomic<std::uint64_t>& cpu_measure_ns) {
        if (on_) cpu_measure_ns.store(cpu_ns() - cpu_at_open_);
        on_ = false;
    }

  private:
    bool on_ = false;
    std::uint64_t cpu_at_open_ = 0;
};

}  // namespace wsgate::bench
