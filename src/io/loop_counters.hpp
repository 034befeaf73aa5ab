// What one event loop asked of the kernel, counted with plain per-loop
// integers (each loop owns its counters: no atomics, no sharing) and printed
// once at exit with --io-stats. Divided by the messages the loop received,
// they say where a backend spends its system calls: the io_uring loop should
// need far less than one io_uring_enter per message, the epoll loop at least
// one read and one write per message.
#pragma once

#include <cstdint>
#include <cstdio>

namespace wsgate::io {

struct LoopCounters {
    uint64_t turns = 0;           // loop turns
    uint64_t waits = 0;           // io_uring_submit_and_wait_timeout / epoll_wait calls
    uint64_t forced_submits = 0;  // io_uring: io_uring_submit because the SQ was full
    uint64_t sqes = 0;            // io_uring: SQEs handed to the kernel
    uint64_t cqes = 0;            // io_uring: completions reaped
    uint64_t recv_cqes = 0;       // io_uring: receive completions carrying bytes
    uint64_t send_cqes = 0;       // io_uring: send completions
    uint64_t reads = 0;           // epoll: read() calls, including those that hit EAGAIN
    uint64_t empty_reads = 0;     // epoll: read() calls that hit EAGAIN
    uint64_t sends = 0;           // sendmsg SQEs (io_uring) / writev calls (epoll)
    uint64_t accepts = 0;         // connections accepted
    uint64_t messages = 0;        // complete WebSocket data messages received (set by the owner)

    // One line: the totals and, per message, the kernel crossings that matter.
    void print(std::FILE* out, const char* backend, unsigned loop) const {
        double m = messages == 0 ? 1.0 : static_cast<double>(messages);
        std::fprintf(out,
                     "wsgate: io stats %s loop %u: messages %llu turns %llu waits %llu "
                     "forced_submits %llu sqes %llu cqes %llu recv_cqes %llu send_cqes %llu "
                     "reads %llu empty_reads %llu sends %llu accepts %llu; per message: waits %.3f "
                     "sqes %.3f cqes %.3f reads %.3f sends %.3f\n",
                     backend, loop, ull(messages), ull(turns), ull(waits), ull(forced_submits),
                     ull(sqes), ull(cqes), ull(recv_cqes), ull(send_cqes), ull(reads),
                     ull(empty_reads), ull(sends), ull(accepts), waits / m, sqes / m, cqes / m,
                     reads / m, sends / m);
    }

  private:
    static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }
};

}  // namespace wsgate::io
