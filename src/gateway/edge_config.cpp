#include "gateway/edge_config.hpp"

#include "io/listener.hpp"

namespace wsgate::gateway {

namespace {

struct OriginRule {
    std::string_view scope;  // a --listen address, a path prefix ("/..."), or empty: everywhere
    std::string_view pattern;
};

// Origins hold no '=' (RFC 6454 §6.2), so the first one ends the address.
OriginRule split_rule(std::string_view rule) {
    size_t eq = rule.find('=');
    if (eq == std::string_view::npos) return {{}, rule};
    return {rule.substr(0, eq), rule.substr(eq + 1)};
}

uint64_t burst_or_rate(uint64_t burst, uint64_t rate) {
    return burst != 0 ? burst : rate;
}

}  // namespace

std::string check_origin_rule(std::string_view rule) {
    OriginRule r = split_rule(rule);
    if (!r.scope.empty() && !r.scope.starts_with('/') && !io::parse_endpoint(r.scope)) {
        return "not a listen address or a path prefix: " + std::string(r.scope);
    }
    ws::OriginAllowList check;
    return check.add(r.pattern);
}

std::string edge_limits(const Config& config, ws::EdgeLimits* out) {
    for (const std::string& text : config.allow_origins) {
        OriginRule r = split_rule(text);
        ws::OriginAllowList* list = nullptr;
        if (r.scope.empty()) {
            list = &out->origins.global();
        } else if (r.scope.starts_with('/')) {
            list = &out->origins.path(r.scope);
        } else {
            size_t index = 0;
            bool tls = false;  // a TLS listener is named by its address alone
            while (index < config.listen.size() &&
                   listen_address(config.listen[index], &tls) != r.scope)
                ++index;
            if (index == config.listen.size()) {
                return "--allow-origin " + text + ": " + std::string(r.scope) +
                       " is not a --listen address";
            }
            if (index >= ws::OriginPolicy::kListenerSlots - 1) {
                return "--allow-origin " + text +
                       ": per-listener origins are available for the first six --listen addresses";
            }
            list = &out->origins.listener(index);
        }
        if (std::string e = list->add(r.pattern); !e.empty()) return e;
    }
    out->ipv6_prefix_bits = config.ipv6_prefix_length;
    out->head.max_header_bytes = static_cast<size_t>(config.max_request_head_bytes);
    out->head.max_headers = config.max_request_headers;
    out->messages_per_second = config.max_messages_per_second;
    out->message_burst = burst_or_rate(config.message_burst, config.max_messages_per_second);
    out->bytes_per_second = config.max_bytes_per_second;
    out->byte_burst = burst_or_rate(config.byte_burst, config.max_bytes_per_second);
    return {};
}

ws::PeerAdmissionSettings peer_admission_settings(const Config& config, unsigned threads,
                                                  uint32_t refusal_slots) {
    ws::PeerAdmissionSettings s;
    s.max_connections = config.max_connections_per_ip;
    s.rate.per_second = config.connection_rate_per_ip;
    s.rate.burst = burst_or_rate(config.connection_burst_per_ip, config.connection_rate_per_ip);
    s.ipv6_prefix_bits = config.ipv6_prefix_length;
    // Every socket a process holds: its connections and each loop's refusal slots.
    s.max_open_keys = config.max_connections + threads * refusal_slots;
    return s;
}

}  // namespace wsgate::gateway
