#include "proxy/route_table.hpp"

#include <algorithm>
#include <charconv>

namespace wsgate::proxy {

namespace {

bool valid_pool_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '-' || ch == '.';
    });
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
    auto ep = io::parse_endpoint(address);
    if (!ep) return bad;
    server.endpoint = *ep;
    server.name = io::format_endpoint(*ep);
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
        "bad --route " + std::string(spec) + " (PREFIX=POOL[,relay=tunnel|frames])";
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
    if (prefix.empty() || prefix.front() != '/' || !valid_pool_name(pool)) return bad;
    for (const Route& r : routes_) {
        if (r.prefix == prefix) return "--route " + std::string(prefix) + " given twice";
    }
    routes_.push_back(Route{std::string(prefix), std::string(pool), relay, 0});
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
    for (auto& [name, policy] : balances_) {
        auto it = std::find_if(pools_.begin(), pools_.end(),
                               [&](const UpstreamPool& p) { return p.name == name; });
        if (it == pools_.end())
            return "--balance " + name + ": no --upstream " + name + "=HOST:PORT";
        it->balance = policy;
    }
    for (auto& [name, check] : checks_) {
        auto it = std::find_if(pools_.begin(), pools_.end(),
                               [&](const UpstreamPool& p) { return p.name == name; });
        if (it == pools_.end()) {
            return "--health-check " + name + ": no --upstream " + name + "=HOST:PORT";
        }
        it->check = check;
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
    std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
        return a.prefix.size() > b.prefix.size();
    });
    return {};
}

int RouteTable::match_index(std::string_view target) const {
    std::string_view path = target.substr(0, target.find('?'));
    for (const Route& r : routes_) {  // longest first: the first match is the longest
        if (path.starts_with(r.prefix)) return static_cast<int>(r.pool);
    }
    return -1;
}

const Route* RouteTable::match_route(std::string_view target) const {
    std::string_view path = target.substr(0, target.find('?'));
    for (const Route& r : routes_) {
        if (path.starts_with(r.prefix)) return &r;
    }
    return nullptr;
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
