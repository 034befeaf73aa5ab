#include "proxy/balancer.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cmath>

#include "proto/http_token.hpp"

namespace wsgate::proxy {

namespace {

bool valid_key_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        return static_cast<unsigned char>(ch) > 0x20 && static_cast<unsigned char>(ch) < 0x7f &&
               ch != '=' && ch != ';' && ch != ',' && ch != '&';
    });
}

// RFC 6265 §4.2.1: cookie-string = cookie-pair *( ";" SP cookie-pair ).
// Peers are lax about the space, so OWS around pairs is skipped.
std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        size_t semi = header.find(';');
        std::string_view pair = proto::trim_ows(header.substr(0, semi));
        size_t eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
            std::string_view value = pair.substr(eq + 1);
            // A quoted cookie-value (RFC 6265 §4.1.1) is hashed without its quotes.
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
                value = value.substr(1, value.size() - 2);
            }
            return value;
        }
        if (semi == std::string_view::npos) break;
        header.remove_prefix(semi + 1);
    }
    return {};
}

// The raw value of query parameter `name` in `target` (application/x-www-
// form-urlencoded pairs split on '&'); absent or empty: empty.
std::string_view query_value(std::string_view target, std::string_view name) {
    size_t q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name && eq != std::string_view::npos) return pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return {};
}

}  // namespace

std::optional<BalancePolicy> parse_balance(std::string_view text) {
    BalancePolicy p;
    if (text == "round-robin") return p;
    if (text == "least-conn") {
        p.kind = BalanceKind::least_conn;
        return p;
    }
    if (!text.starts_with("hash:")) return std::nullopt;
    p.kind = BalanceKind::hash;
    std::string_view rest = text.substr(5);
    if (rest == "ip") return p;
    struct Prefix {
        std::string_view text;
        HashSource source;
    };
    for (Prefix pre : {Prefix{"header:", HashSource::header}, Prefix{"cookie:", HashSource::cookie},
                       Prefix{"query:", HashSource::query}}) {
        if (rest.starts_with(pre.text)) {
            std::string_view name = rest.substr(pre.text.size());
            if (!valid_key_name(name)) return std::nullopt;
            p.source = pre.source;
            p.key_name = name;
            return p;
        }
    }
    return std::nullopt;
}

std::string balance_text(const BalancePolicy& policy) {
    switch (policy.kind) {
        case BalanceKind::round_robin:
            return "round-robin";
        case BalanceKind::least_conn:
            return "least-conn";
        case BalanceKind::hash:
            break;
    }
    switch (policy.source) {
        case HashSource::client_address:
            return "hash:ip";
        case HashSource::header:
            return "hash:header:" + policy.key_name;
        case HashSource::cookie:
            return "hash:cookie:" + policy.key_name;
        case HashSource::query:
            return "hash:query:" + policy.key_name;
    }
    return {};
}

std::string_view hash_key(const BalancePolicy& policy, const proto::HttpRequest& request,
                          std::string_view client_address) {
    std::string_view key;
    switch (policy.source) {
        case HashSource::client_address:
            break;
        case HashSource::header:
            key = request.header(policy.key_name);
            break;
        case HashSource::cookie:
            for (size_t i = 0; i < request.header_count && key.empty(); ++i) {
                if (proto::ascii_iequals(request.headers[i].name, "cookie")) {
                    key = cookie_value(request.headers[i].value, policy.key_name);
                }
            }
            break;
        case HashSource::query:
            key = query_value(request.target, policy.key_name);
            break;
    }
    return key.empty() ? client_address : key;
}

uint64_t hash_of(std::string_view key) {
    return XXH3_64bits(key.data(), key.size());
}

int pick_least_conn(std::span<const Candidate> servers, uint32_t start) {
    int best = kNoServer;
    const size_t n = servers.size();
    for (size_t k = 0; k < n; ++k) {
        size_t i = (start + k) % n;
        const Candidate& c = servers[i];
        if (c.weight == 0) continue;
        if (best == kNoServer) {
            best = static_cast<int>(i);
            continue;
        }
        const Candidate& b = servers[static_cast<size_t>(best)];
        // connections_i / weight_i < connections_b / weight_b, without division.
        if (uint64_t{c.connections} * b.weight < uint64_t{b.connections} * c.weight) {
            best = static_cast<int>(i);
        }
    }
    return best;
}

HashRing::HashRing(std::span<const std::string> names, std::span<const uint32_t> weights) {
    uint64_t total = 0;
    for (uint32_t w : weights)
        total += w;
    if (total == 0) return;
    const size_t n = names.size();
    for (size_t s = 0; s < n; ++s) {
        uint64_t share = (uint64_t{kPointsPerServer} * n * weights[s] + total / 2) / total;
        share = std::max<uint64_t>(share, 1);
        std::string label = names[s] + "#";
        const size_t base = label.size();
        for (uint64_t i = 0; i < share; ++i) {
            label.resize(base);
            label += std::to_string(i);
            points_.push_back(Point{hash_of(label), static_cast<uint32_t>(s)});
        }
    }
    std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
        return a.hash != b.hash ? a.hash < b.hash : a.server < b.server;
    });
}

int HashRing::pick(uint64_t hash, std::span<const Candidate> servers, double balance_factor) const {
    uint64_t live = 1;  // this connection
    uint64_t weights = 0;
    for (const Candidate& c : servers) {
        if (c.weight == 0) continue;
        live += c.connections;
        weights += c.weight;
    }
    if (weights == 0 || points_.empty()) return kNoServer;
    auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                               [](const Point& p, uint64_t h) { return p.hash < h; });
    const size_t start = static_cast<size_t>(it - points_.begin());
    for (size_t k = 0; k < points_.size(); ++k) {
        const Point& p = points_[(start + k) % points_.size()];
        const Candidate& c = servers[p.server];
        if (c.weight == 0) continue;
        if (balance_factor <= 0) return static_cast<int>(p.server);
        double capacity = std::ceil(balance_factor * static_cast<double>(live) * c.weight /
                                    static_cast<double>(weights));
        if (static_cast<double>(c.connections) < capacity) return static_cast<int>(p.server);
    }
    // Only reached when every eligible server is at its capacity, which the
    // capacities' sum (>= c × (L + 1) > L for c >= 1) rules out; kept as a
    // safe answer rather than an assumption.
    for (size_t k = 0; k < points_.size(); ++k) {
        const Point& p = points_[(start + k) % points_.size()];
        if (servers[p.server].weight != 0) return static_cast<int>(p.server);
    }
    return kNoServer;
}

}  // namespace wsgate::proxy
