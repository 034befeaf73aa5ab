#include "proxy/proxy_table.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace wsgate::proxy {

namespace {

// The same server (as UpstreamLive carries its state over): name and address.
bool same_identity(const UpstreamServer& a, const UpstreamServer& b) {
    return a.name == b.name && a.endpoint.len == b.endpoint.len &&
           std::memcmp(&a.endpoint.addr, &b.endpoint.addr, a.endpoint.len) == 0;
}

bool same_server(const UpstreamServer& a, const UpstreamServer& b) {
    return same_identity(a, b) && a.weight == b.weight;
}

bool same_pool(const UpstreamPool& a, const UpstreamPool& b) {
    return a.name == b.name && a.balance == b.balance && a.check == b.check &&
           std::equal(a.servers.begin(), a.servers.end(), b.servers.begin(), b.servers.end(),
                      same_server);
}

bool same_route(const Route& a, const Route& b) {
    return a.host == b.host && a.prefix == b.prefix && a.pool_name == b.pool_name &&
           a.relay == b.relay;
}

const UpstreamPool* pool_named(const RouteTable& t, const std::string& name) {
    for (const UpstreamPool& p : t.pools()) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

std::string route_text(const Route& r) {
    return r.host + r.prefix + "=" + r.pool_name +
           (r.relay == Relay::frames ? ",relay=frames" : "");
}

// Items of the change, at most kShown named, then how many more.
class ChangeList {
  public:
    void add(std::string item) {
        if (items_.size() < kShown) {
            items_.push_back(std::move(item));
        } else {
            ++more_;
        }
    }
    std::string text() const {
        std::string out;
        for (const std::string& item : items_) {
            if (!out.empty()) out += ", ";
            out += item;
        }
        if (more_ != 0) out += ", and " + std::to_string(more_) + " more";
        return out;
    }

  private:
    static constexpr size_t kShown = 8;
    std::vector<std::string> items_;
    size_t more_ = 0;
};

}  // namespace

bool same_routing(const RouteTable& a, const RouteTable& b) {
    return a.hash_balance_factor() == b.hash_balance_factor() && a.passive() == b.passive() &&
           std::equal(a.pools().begin(), a.pools().end(), b.pools().begin(), b.pools().end(),
                      same_pool) &&
           std::equal(a.routes().begin(), a.routes().end(), b.routes().begin(), b.routes().end(),
                      same_route);
}

std::string describe_routing_change(const RouteTable& before, const RouteTable& after) {
    ChangeList changes;
    for (const UpstreamPool& p : before.pools()) {
        if (pool_named(after, p.name) == nullptr) changes.add("-pool " + p.name);
    }
    for (const UpstreamPool& p : after.pools()) {
        const UpstreamPool* was = pool_named(before, p.name);
        if (was == nullptr) {
            changes.add("+pool " + p.name);
            continue;
        }
        for (const UpstreamServer& s : was->servers) {
            if (std::none_of(p.servers.begin(), p.servers.end(),
                             [&](const UpstreamServer& n) { return same_identity(s, n); })) {
                changes.add("-server " + p.name + " " + s.name);
            }
        }
        for (const UpstreamServer& s : p.servers) {
            auto old = std::find_if(was->servers.begin(), was->servers.end(),
                                    [&](const UpstreamServer& o) { return same_identity(s, o); });
            if (old == was->servers.end()) {
                changes.add("+server " + p.name + " " + s.name);
            } else if (old->weight != s.weight) {
                changes.add("weight " + p.name + " " + s.name + " " + std::to_string(s.weight));
            }
        }
        if (!(was->balance == p.balance)) {
            changes.add("balance " + p.name + " " + balance_text(p.balance));
        }
        if (!(was->check == p.check)) {
            changes.add("health-check " + p.name + " " +
                        (p.check ? health_check_text(*p.check) : std::string("off")));
        }
    }
    for (const Route& r : before.routes()) {
        if (std::none_of(after.routes().begin(), after.routes().end(),
                         [&](const Route& n) { return same_route(r, n); })) {
            changes.add("-route " + route_text(r));
        }
    }
    for (const Route& r : after.routes()) {
        if (std::none_of(before.routes().begin(), before.routes().end(),
                         [&](const Route& o) { return same_route(r, o); })) {
            changes.add("+route " + route_text(r));
        }
    }
    if (before.hash_balance_factor() != after.hash_balance_factor()) {
        char factor[48];
        std::snprintf(factor, sizeof(factor), "hash-balance-factor %g",
                      after.hash_balance_factor());
        changes.add(factor);
    }
    if (!(before.passive() == after.passive())) changes.add("passive health");
    return "proxy routes: " + changes.text();
}

}  // namespace wsgate::proxy
