// How a pool picks its server for a new connection: smooth weighted round
// robin, least connections, or consistent hashing with bounded load
// (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads",
// SODA 2018; HAProxy's hash-balance-factor, Envoy's ring hash) on XXH3 of a
// key taken from the request: the client's address, a header, a cookie or a
// query parameter.
//
// The pickers are pure: they see each server as a Candidate (live
// connections, effective weight, eligible or not) and return an index, so
// the same code serves the proxy's loops and the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/http_request.hpp"

namespace wsgate::proxy {

enum class BalanceKind : uint8_t { round_robin, least_conn, hash };
enum class HashSource : uint8_t { client_address, header, cookie, query };

struct BalancePolicy {
    BalanceKind kind = BalanceKind::round_robin;
    HashSource source = HashSource::client_address;
    std::string key_name;  // the header, cookie or query parameter

    bool operator==(const BalancePolicy&) const = default;
};

// "round-robin" | "least-conn" | "hash:ip" | "hash:header:NAME" |
// "hash:cookie:NAME" | "hash:query:NAME"; nullopt for anything else.
std::optional<BalancePolicy> parse_balance(std::string_view text);
// The text parse_balance reads back.
std::string balance_text(const BalancePolicy& policy);

// The bytes to hash for `request` under `policy`: a view into the request
// (header value, cookie value, raw query parameter value, no percent
// decoding), or `client_address` for hash:ip and whenever the header,
// cookie or parameter is absent (the documented fallback: a client without
// the key still sticks to one server as long as its address does not change).
std::string_view hash_key(const BalancePolicy& policy, const proto::HttpRequest& request,
                          std::string_view client_address);
uint64_t hash_of(std::string_view key);

// A server as a picker sees it at the time of a pick.
struct Candidate {
    uint32_t connections = 0;  // live connections through this gateway
    uint32_t weight = 0;       // effective weight (slow start lowers it); 0: not eligible
};

inline constexpr int kNoServer = -1;

// Least connections relative to weight (connections_i / weight_i smallest);
// ties go to the first at or after `start` (cycled by the caller, so equal
// servers share new connections in turn). kNoServer when none is eligible.
int pick_least_conn(std::span<const Candidate> servers, uint32_t start);

// The hash ring of one pool: each server owns points XXH3("NAME#i"), as many
// as its share of the weights (kPointsPerServer for equal weights), so a
// server's points do not depend on which other servers exist: removing one
// of N moves only its own keys (~1/N), adding one takes ~1/(N+1).
class HashRing {
  public:
    static constexpr uint32_t kPointsPerServer = 160;

    HashRing() = default;
    // names[i] and weights[i]: the pool's servers, in order.
    HashRing(std::span<const std::string> names, std::span<const uint32_t> weights);

    // Bounded load: the first server clockwise from `hash` that is eligible
    // and has fewer live connections than ceil(c × (L + 1) × w_i / W), L the
    // eligible servers' connections, W their weights (so with equal weights
    // no server goes above ceil(c × average) once this connection counts).
    // A factor of 0 switches the bound off (plain consistent hashing).
    // kNoServer when none is eligible.
    int pick(uint64_t hash, std::span<const Candidate> servers, double balance_factor) const;

    size_t points() const { return points_.size(); }

  private:
    struct Point {
        uint64_t hash;
        uint32_t server;
    };
    std::vector<Point> points_;  // by hash
};

}  // namespace wsgate::proxy
