#include "proxy/route_table.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace wsgate::proxy {

namespace {

bool valid_pool_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '-' || ch == '.';
    });
}

// A DNS name (RFC 1123 §2.1 labels: letters, digits, hyphens) that is not
// an IPv4 literal (those parse as addresses or are wrong).
bool valid_dns_name(std::string_view name) {
    if (name.empty() || name.size() > 253 || name.front() == '.' || name.front() == '-') {
        return false;
    }
    bool letter = false;
    for (char ch : name) {
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        letter = letter || alpha || ch == '-';
        if (!alpha && !(ch >= '0' && ch <= '9') && ch != '-' && ch != '.' && ch != '_') {
            return false;
        }
    }
    return letter;
}

// A Host as a route names it: a DNS name or IPv4 address, or an IPv6
// address in brackets (RFC 9110 §7.2: uri-host), without a port.
bool valid_route_host(std::string_view host) {
    if (host.empty() || host.size() > 255) return false;
    if (host.front() == '[') {
        return host.size() > 2 && host.back() == ']' &&
               std::all_of(host.begin() + 1, host.end() - 1, [](char ch) {
                   return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                          (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
               });
    }
    return std::all_of(host.begin(), host.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '.' || ch == '_';
    });
}

// The host part of a Host header value: without its port, and without the
// trailing dot of an absolute name.
std::string_view host_without_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') {
        size_t close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    host = host.substr(0, host.find(':'));
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    return host;
}

bool same_host(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + ('a' - 'A')) : c; };
               return lower(x) == lower(y);
           });
}

// The first address getaddrinfo gives for the server's name (RFC 6724
// order; AI_ADDRCONFIG: only families this host has addresses of).
std::string resolve(UpstreamServer& server) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(server.host_name.c_str(), nullptr, &hints, &found);
    if (rc != 0) return "cannot resolve " + server.host_name + ": " + gai_strerror(rc);
    const addrinfo* use = nullptr;
    for (const addrinfo* a = found; a != nullptr && use == nullptr; a = a->ai_next) {
        if (a->ai_family == AF_INET || a->ai_family == AF_INET6) use = a;
    }
    if (use == nullptr) {
        freeaddrinfo(found);
        return "no IPv4 or IPv6 address for " + server.host_name;
    }
    std::memcpy(&server.endpoint.addr, use->ai_addr, use->ai_addrlen);
    server.endpoint.len = static_cast<socklen_t>(use->ai_addrlen);
    if (use->ai_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&server.endpoint.addr)->sin_port = htons(server.port);
    } else {
        reinterpret_cast<sockaddr_in6*>(&server.endpoint.addr)->sin6_port = htons(server.port);
    }
    freeaddrinfo(found);
    return {};
}

}  // namespace

std::string RouteTable::add_upstream(std::string_view spec) {
    const std::string bad = "bad --upstream " + std::string(spec) + " (POOL=HOST:PORT[,weight=W])";
    size_t eq = spec.find('=');
    if (eq == std::string_view::npos) return bad;
    std::string_view name = spec.substr(0, eq);
    std::string_view rest = spec.substr(eq + 1);
    if (!valid_pool_name(name)) return bad;
    UpstreamServer server;
    size_t comma = rest.find(',');
    std::string_view address = rest.substr(0, comma);
    if (comma != std::string_view::npos) {
        std::string_view option = rest.substr(comma + 1);
        if (!option.starts_with("weight=")) return bad;
        std::string_view w = option.substr(7);
        auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), server.weight);
        if (ec != std::errc() || end != w.data() + w.size() || server.weight == 0 ||
            server.weight > kMaxWeight) {
            return bad;
        }
    }
    if (auto ep = io::parse_endpoint(address)) {
        server.endpoint = *ep;
        server.name = io::format_endpoint(*ep);
    } else {
        // NAME:PORT, resolved by finish().
        size_t colon = address.rfind(':');
        if (colon == std::string_view::npos) return bad;
        std::string_view host = address.substr(0, colon), port = address.substr(colon + 1);
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), server.port);
        if (ec != std::errc() || end != port.data() + port.size() || server.port == 0 ||
            !valid_dns_name(host)) {
            return bad;
        }
        server.host_name = host;
        server.name = std::string(address);
    }
    auto it = std::find_if(pools_.begin(), pools_.end(),
                           [&](const UpstreamPool& p) { return p.name == name; });
    if (it == pools_.end()) {
        pools_.push_back(UpstreamPool{std::string(name), {}, {}, {}, {}});
        it = pools_.end() - 1;
    }
    if (it->servers.size() == kMaxPoolServers) {
        return "--upstream " + std::string(spec) + ": pool " + it->name + " has " +
               std::to_string(kMaxPoolServers) + " servers already (the most a pool may have)";
    }
    it->servers.push_back(std::move(server));
    return {};
}

std::string RouteTable::add_route(std::string_view spec) {
    const std::string bad =
        "bad --route " + std::string(spec) + " ([HOST]/PREFIX=POOL[,relay=tunnel|frames])";
    Relay relay = Relay::tunnel;
    if (size_t comma = spec.rfind(','); comma != std::string_view::npos) {
        std::string_view option = spec.substr(comma + 1);
        if (option == "relay=frames") {
            relay = Relay::frames;
        } else if (option != "relay=tunnel") {
            return bad;
        }
        spec = spec.substr(0, comma);
    }
    size_t eq = spec.rfind('=');
    if (eq == std::string_view::npos) return bad;
    std::string_view prefix = spec.substr(0, eq);
    std::string_view pool = spec.substr(eq + 1);
    std::string host;
    if (size_t slash = prefix.find('/'); slash != 0 && slash != std::string_view::npos) {
        if (!valid_route_host(prefix.substr(0, slash))) return bad;
        for (char ch : prefix.substr(0, slash))
            host += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
        prefix.remove_prefix(slash);
    }
    if (prefix.empty() || prefix.front() != '/' || !valid_pool_name(pool)) return bad;
    for (const Route& r : routes_) {
        if (r.prefix == prefix && r.host == host) {
            return "--route " + host + std::string(prefix) + " given twice";
        }
    }
    routes_.push_back(Route{std::move(host), std::string(prefix), std::string(pool), relay, 0});
    return {};
}

std::string RouteTable::add_balance(std::string_view spec) {
    const std::string bad =
        "bad --balance " + std::string(spec) +
        " (POOL=round-robin|least-conn|hash:ip|hash:header:NAME|hash:cookie:NAME|hash:query:NAME)";
    size_t eq = spec.find('=');
    if (eq == std::string_view::npos) return bad;
    std::string_view pool = spec.substr(0, eq);
    auto policy = parse_balance(spec.substr(eq + 1));
    if (!valid_pool_name(pool) || !policy) return bad;
    for (const auto& b : balances_) {
        if (b.first == pool) return "--balance " + std::string(pool) + " given twice";
    }
    balances_.emplace_back(std::string(pool), std::move(*policy));
    return {};
}

std::string RouteTable::add_health_check(std::string_view spec) {
    const std::string bad = "bad --health-check " + std::string(spec) +
                            " (POOL=path=/healthz,interval=2,timeout=1,rise=2,fall=3: any of "
                            "them, timeout <= interval, rise and fall 1..100)";
    size_t eq = spec.find('=');
    if (eq == std::string_view::npos) return bad;
    std::string_view pool = spec.substr(0, eq);
    auto check = parse_health_check(spec.substr(eq + 1));
    if (!valid_pool_name(pool) || !check) return bad;
    for (const auto& c : checks_) {
        if (c.first == pool) return "--health-check " + std::string(pool) + " given twice";
    }
    checks_.emplace_back(std::string(pool), std::move(*check));
    return {};
}

std::string RouteTable::finish() {
    if (routes_.empty()) return "--mode proxy needs at least one --route PREFIX=POOL";
    // Named references, not structured bindings: clang 14 (the fuzz build)
    // does not yet let a lambda capture a structured binding (P1091).
    auto pool_named = [&](const std::string& name) {
        return std::find_if(pools_.begin(), pools_.end(),
                            [&](const UpstreamPool& p) { return p.name == name; });
    };
    for (auto& balance : balances_) {
        const std::string& name = balance.first;
        auto it = pool_named(name);
        if (it == pools_.end())
            return "--balance " + name + ": no --upstream " + name + "=HOST:PORT";
        it->balance = balance.second;
    }
    for (auto& health : checks_) {
        const std::string& name = health.first;
        auto it = pool_named(name);
        if (it == pools_.end()) {
            return "--health-check " + name + ": no --upstream " + name + "=HOST:PORT";
        }
        it->check = health.second;
    }
    for (UpstreamPool& pool : pools_) {
        for (UpstreamServer& s : pool.servers) {
            if (s.host_name.empty()) continue;
            if (std::string e = resolve(s); !e.empty()) {
                return "--upstream " + pool.name + "=" + s.name + ": " + e;
            }
        }
    }
    for (UpstreamPool& pool : pools_) {
        if (pool.balance.kind != BalanceKind::hash) continue;
        std::vector<std::string> names;
        std::vector<uint32_t> weights;
        for (const UpstreamServer& s : pool.servers) {
            names.push_back(s.name);
            weights.push_back(s.weight);
        }
        pool.ring = HashRing(names, weights);
    }
    for (Route& r : routes_) {
        auto it = std::find_if(pools_.begin(), pools_.end(),
                               [&](const UpstreamPool& p) { return p.name == r.pool_name; });
        if (it == pools_.end()) {
            return "--route " + r.prefix + "=" + r.pool_name + ": no --upstream " + r.pool_name +
                   "=HOST:PORT";
        }
        r.pool = static_cast<uint32_t>(it - pools_.begin());
    }
    has_host_routes_ =
        std::any_of(routes_.begin(), routes_.end(), [](const Route& r) { return !r.host.empty(); });
    std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
        return a.prefix.size() > b.prefix.size();
    });
    return {};
}

int RouteTable::match_index(std::string_view target) const {
    const Route* r = match_route(target);
    return r == nullptr ? -1 : static_cast<int>(r->pool);
}

const Route* RouteTable::match_route(std::string_view target, std::string_view host) const {
    std::string_view path = target.substr(0, target.find('?'));
    host = host_without_port(host);
    const Route* fallback = nullptr;
    for (const Route& r : routes_) {  // longest first: the first match of each kind is the longest
        if (!path.starts_with(r.prefix)) continue;
        if (r.host.empty()) {
            if (fallback == nullptr) fallback = &r;
            if (!has_host_routes_) return &r;
        } else if (!host.empty() && same_host(r.host, host)) {
            return &r;
        }
    }
    return fallback;
}

const UpstreamPool* RouteTable::match(std::string_view target) const {
    int i = match_index(target);
    return i < 0 ? nullptr : &pools_[static_cast<size_t>(i)];
}

uint32_t RoundRobin::next(const UpstreamPool& pool) {
    Candidate all[kMaxPoolServers];
    for (size_t i = 0; i < pool.servers.size(); ++i)
        all[i].weight = pool.servers[i].weight;
    return static_cast<uint32_t>(next(std::span<const Candidate>(all, pool.servers.size())));
}

int RoundRobin::next(std::span<const Candidate> servers) {
    int64_t total = 0;
    int best = kNoServer;
    for (size_t i = 0; i < servers.size(); ++i) {
        if (servers[i].weight == 0) continue;
        current_[i] += servers[i].weight;
        total += servers[i].weight;
        if (best == kNoServer || current_[i] > current_[static_cast<size_t>(best)]) {
            best = static_cast<int>(i);
        }
    }
    if (best != kNoServer) current_[static_cast<size_t>(best)] -= total;
    return best;
}

}  // namespace wsgate::proxy
