#pragma once
// Reads what the kernel knows about the server under test (Linux /proc), so a
// run can report the server's CPU time inside the measured window and its
// resident memory, and the kernel's TCP socket memory, without the server's help.

#include <sys/types.h>

#include <cstdint>

namespace wsgate::bench {

struct ServerSample {
    bool valid = false;
    double cpu_s = 0;                 // utime + stime of every thread (/proc/PID/stat)
    std::uint64_t rss_kb = 0;         // VmRSS (/proc/PID/status)
    std::uint64_t tcp_mem_pages = 0;  // "TCP: ... mem N" (/proc/net/sockstat), whole machine
    std::uint64_t tcp_inuse = 0;
};

// Samples `pid` now; valid=false if the process is gone or pid is 0.
ServerSample sample_server(pid_t pid);

}  // namespace wsgate::bench
