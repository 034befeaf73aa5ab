// Every command-line flag of wsgate, with its default, in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/backend_kind.hpp"

namespace wsgate::gateway {

struct Config {
    std::vector<std::string> listen;  // empty: kDefaultListen
    unsigned threads = 0;             // 0: number of cores
    unsigned workers = 1;             // processes sharing the port (SO_REUSEPORT)
    io::BackendKind backend = io::BackendKind::auto_select;
    std::string mode = "echo";
    uint64_t max_message_bytes = 16 * 1024 * 1024;
    uint32_t max_connections = 100000;
    double idle_timeout_s = 60;
    double handshake_timeout_s = 10;
    double close_timeout_s = 5;
    uint64_t max_queued_bytes = 1024 * 1024;
    uint32_t recv_buffers = 1024;  // per loop, power of two
    uint32_t recv_buffer_bytes = 16384;
    bool trace = false;
    bool direct_descriptors = false;  // io_uring: connections in a registered file table
    bool help = false;
};

inline constexpr const char* kDefaultListen = "0.0.0.0:8080";

// Parses argv into *config (starting from the defaults). Returns an empty
// string on success, else a one-line error message.
std::string parse_config(int argc, const char* const* argv, Config* config);

// The --help text.
std::string config_help();

}  // namespace wsgate::gateway
