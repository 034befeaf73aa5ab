#include "server_probe.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace wsgate::bench {
namespace {

// /proc/PID/stat fields 14 and 15 (utime, stime), in clock ticks. The command
// name (field 2) may hold spaces, so fields are counted after its closing ')'.
bool read_cpu(pid_t pid, double& cpu_s) {
    const std::string path = "/proc/" + std::to_string(pid) + "/stat";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    char line[2048] = {};
    const bool got = std::fgets(line, sizeof line, f) != nullptr;
    std::fclose(f);
    if (!got) return false;
    const char* p = std::strrchr(line, ')');
    if (!p) return false;
    unsigned long long utime = 0, stime = 0;
    // After ')': state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8) flags(9)
    // minflt(10) cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15).
    if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                    &stime) != 2)
        return false;
    cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    return true;
}

std::uint64_t read_rss_kb(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/status";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmRSS: %llu kB", &kb) == 1) break;
    std::fclose(f);
    return kb;
}

void read_sockstat(std::uint64_t& inuse, std::uint64_t& mem_pages) {
    std::FILE* f = std::fopen("/proc/net/sockstat", "r");
    if (!f) return;
    char line[256];
    unsigned long long in = 0, orphan = 0, tw = 0, alloc = 0, mem = 0;
    while (std::fgets(line, sizeof line, f)) {
        if (std::sscanf(line, "TCP: inuse %llu orphan %llu tw %llu alloc %llu mem %llu", &in,
                        &orphan, &tw, &alloc, &mem) == 5) {
            inuse = in;
            mem_pages = mem;
            break;
        }
    }
    std::fclose(f);
}

}  // namespace

ServerSample sample_server(pid_t pid) {
    ServerSample s;
    if (pid <= 0 || !read_cpu(pid, s.cpu_s)) return s;
    s.rss_kb = read_rss_kb(pid);
    read_sockstat(s.tcp_inuse, s.tcp_mem_pages);
    s.valid = true;
    return s;
}

}  // namespace wsgate::bench
