// Per-client-address admission shared by the loops of one process:
// concurrent open connections per address (--max-connections-per-ip) and
// new connections per second per address (--connection-rate-per-ip, a
// token bucket with a burst). Consulted once per accepted connection and
// once per release of a counted one, never per message: a mutex is cheap
// at that rate and makes the limits exact across loops (connections of one
// address are spread over the loops by the kernel's SO_REUSEPORT hash).
// Open connections are counted whether or not a limit is set, so a limit a
// reload sets or lowers (update) starts from the true counts.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "ws/peer_table.hpp"
#include "ws/token_bucket.hpp"
#include "ws/zero_pages.hpp"

namespace wsgate::ws {

struct PeerAdmissionSettings {
    uint32_t max_connections = 0;  // per address; 0: no limit
    TokenBucketRate rate;          // per address; per_second 0: no limit
    uint32_t ipv6_prefix_bits = 64;
    // Addresses with open connections the table can hold: every socket of
    // the process (connections plus refusal slots), so it is never full.
    uint32_t max_open_keys = 1;
    // Addresses whose rate bucket is remembered (fixed: a flood of distinct
    // addresses evicts the fullest buckets, which forget the least).
    uint32_t rate_entries = 1u << 16;
};

// Bounded memory whatever the number of distinct addresses: both tables
// are allocated once (zero pages: untouched ones cost nothing) and never grow.
class PeerAdmission {
  public:
    explicit PeerAdmission(const PeerAdmissionSettings& settings);

    // A reload's limits (max_connections, rate, ipv6_prefix_bits; the table
    // sizes stay): new connections are admitted by them from now on; the
    // counts of open ones stay, and each is released under the key it was
    // counted with. Any thread.
    void update(const PeerAdmissionSettings& next);

    // The key of a peer address (IPv4 whole, IPv4-mapped IPv6 as IPv4,
    // IPv6 by its prefix), never 0; false for other families.
    bool key_of(const sockaddr* addr, socklen_t len, uint64_t* key) const;

    enum class Verdict : uint8_t { admitted, over_connections, over_rate, table_full };
    struct Result {
        Verdict verdict;
        uint32_t retry_after_s;  // for the refusal's Retry-After (RFC 9110 §10.2.3)
    };
    // A new connection from key at now_ms (CLOCK_MONOTONIC milliseconds,
    // the same clock for every loop). Admitted: counted (release it once it
    // closes), whether or not max_connections is set.
    Result admit(uint64_t key, uint32_t now_ms);
    void release(uint64_t key);

    uint32_t open_keys();  // addresses with connections counted now

  private:
    struct RateEntry {
        uint64_t key;  // 0: empty
        TokenBucket bucket;
    };
    static constexpr uint32_t kWays = 8;
    RateEntry& rate_entry(uint64_t key, uint32_t now_ms);

    PeerAdmissionSettings settings_;  // under mutex_ (but ipv6_prefix_bits)
    std::atomic<uint32_t> ipv6_prefix_bits_;
    uint64_t seed_;
    std::mutex mutex_;
    PeerTable open_;
    ZeroPages<RateEntry> rates_;
    uint32_t rate_set_mask_ = 0;
};

}  // namespace wsgate::ws
