#include "gateway/namespace_config.hpp"
#include "gateway/edit_distance.hpp"

#include <algorithm>
#include <charconv>

namespace wsgate::gateway {

namespace {

using pubsub::ChannelOptions;

constexpr uint64_t kMaxHistorySize = 1000000;  // as --history-size
constexpr uint64_t kMaxHistoryTtlSeconds = 365 * 86400;

constexpr NamespaceOption kOptions[] = {
    {"history_size", NamespaceOptionType::count},
    {"history_ttl", NamespaceOptionType::seconds},
    {"presence", NamespaceOptionType::toggle},
    {"allow_subscribe_for_client", NamespaceOptionType::toggle},
    {"allow_subscribe_for_anonymous", NamespaceOptionType::toggle},
    {"allow_publish_for_subscriber", NamespaceOptionType::toggle},
    {"allow_publish_for_client", NamespaceOptionType::toggle},
    {"allow_publish_for_anonymous", NamespaceOptionType::toggle},
    {"allow_history_for_subscriber", NamespaceOptionType::toggle},
    {"allow_history_for_client", NamespaceOptionType::toggle},
    {"allow_history_for_anonymous", NamespaceOptionType::toggle},
    {"allow_presence_for_subscriber", NamespaceOptionType::toggle},
    {"allow_presence_for_client", NamespaceOptionType::toggle},
    {"allow_presence_for_anonymous", NamespaceOptionType::toggle},
};

// Centrifugo v5 channel options wsgate does not implement.
constexpr std::string_view kNotImplemented[] = {
    "join_leave",           "force_push_join_leave",
    "force_positioning",    "allow_positioning",
    "force_recovery",       "allow_recovery",
    "force_recovery_mode",  "allow_user_limited_channels",
    "channel_regex",        "proxy_subscribe",
    "proxy_publish",        "proxy_sub_refresh",
    "subscribe_proxy_name", "publish_proxy_name",
    "history_meta_ttl",     "delta_publish",
    "allowed_delta_types",  "subscribe_stream_proxy_name",
};

bool* toggle_of(std::string_view name, ChannelOptions* o) {
    if (name == "presence") return &o->presence;
    if (name == "allow_subscribe_for_client") return &o->allow_subscribe_for_client;
    if (name == "allow_subscribe_for_anonymous") return &o->allow_subscribe_for_anonymous;
    if (name == "allow_publish_for_subscriber") return &o->allow_publish_for_subscriber;
    if (name == "allow_publish_for_client") return &o->allow_publish_for_client;
    if (name == "allow_publish_for_anonymous") return &o->allow_publish_for_anonymous;
    if (name == "allow_history_for_subscriber") return &o->allow_history_for_subscriber;
    if (name == "allow_history_for_client") return &o->allow_history_for_client;
    if (name == "allow_history_for_anonymous") return &o->allow_history_for_anonymous;
    if (name == "allow_presence_for_subscriber") return &o->allow_presence_for_subscriber;
    if (name == "allow_presence_for_client") return &o->allow_presence_for_client;
    if (name == "allow_presence_for_anonymous") return &o->allow_presence_for_anonymous;
    return nullptr;
}

bool parse_u64(std::string_view s, uint64_t* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// Whole seconds, or Go's duration syntax as Centrifugo's configuration
// writes it ("300s", "5m", "1h30m"; units h, m, s).
bool parse_seconds(std::string_view text, uint64_t* out) {
    if (parse_u64(text, out)) return true;
    if (text.empty()) return false;
    uint64_t total = 0;
    while (!text.empty()) {
        size_t digits = 0;
        while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
            ++digits;
        uint64_t n = 0;
        if (digits == 0 || digits == text.size() || !parse_u64(text.substr(0, digits), &n) ||
            n > kMaxHistoryTtlSeconds) {
            return false;
        }
        char unit = text[digits];
        uint64_t scale = unit == 'h' ? 3600 : unit == 'm' ? 60 : unit == 's' ? 1 : 0;
        if (scale == 0) return false;
        total += n * scale;
        if (total > kMaxHistoryTtlSeconds) return false;
        text.remove_prefix(digits + 1);
    }
    *out = total;
    return true;
}

}  // namespace

const NamespaceOption* find_namespace_option(std::string_view name) {
    for (const NamespaceOption& o : kOptions) {
        if (o.name == name) return &o;
    }
    return nullptr;
}

std::string unknown_namespace_option(std::string_view name) {
    for (std::string_view n : kNotImplemented) {
        if (n == name) {
            return "namespace option '" + std::string(name) +
                   "' is Centrifugo's; wsgate does not implement it";
        }
    }
    std::string message = "unknown namespace option '" + std::string(name) + "'";
    // A typo is a few edits (history-size for history_size is one per dash).
    size_t limit = std::max<size_t>(2, std::min<size_t>(4, name.size() / 3));
    std::string_view best;
    size_t best_distance = limit + 1;
    for (std::string_view candidate : {std::string_view("name")}) {
        size_t d = edit_distance(name, candidate);
        if (d < best_distance) best = candidate, best_distance = d;
    }
    for (const NamespaceOption& o : kOptions) {
        size_t d = edit_distance(name, o.name);
        if (d < best_distance) best = o.name, best_distance = d;
    }
    if (!best.empty()) message += " (did you mean '" + std::string(best) + "'?)";
    return message;
}

bool set_namespace_option(const NamespaceOption& option, std::string_view text,
                          ChannelOptions* options) {
    switch (option.type) {
        case NamespaceOptionType::toggle: {
            bool* b = toggle_of(option.name, options);
            if (b == nullptr || (text != "true" && text != "false")) return false;
            *b = text == "true";
            return true;
        }
        case NamespaceOptionType::count: {
            uint64_t n = 0;
            if (!parse_u64(text, &n) || n > kMaxHistorySize) return false;
            options->history_size = static_cast<uint32_t>(n);
            return true;
        }
        case NamespaceOptionType::seconds: {
            uint64_t n = 0;
            if (!parse_seconds(text, &n) || n < 1 || n > kMaxHistoryTtlSeconds) return false;
            options->history_ttl_s = static_cast<uint32_t>(n);
            return true;
        }
    }
    return false;
}

std::string parse_namespace_flag(std::string_view text, pubsub::ChannelNamespace* out) {
    pubsub::ChannelNamespace ns;
    size_t comma = text.find(',');
    ns.name = text.substr(0, comma);
    if (!pubsub::valid_namespace_name(ns.name)) {
        return "bad namespace name '" + ns.name + "' (2 or more of letters, digits, '-', '_', '.')";
    }
    while (comma != std::string_view::npos) {
        text.remove_prefix(comma + 1);
        comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        size_t eq = item.find('=');
        if (eq == std::string_view::npos)
            return "namespace option without '=': " + std::string(item);
        std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
        const NamespaceOption* option = find_namespace_option(key);
        if (option == nullptr) return unknown_namespace_option(key);
        if (!set_namespace_option(*option, value, &ns.options)) {
            return "bad value for namespace option " + std::string(key) + ": " + std::string(value);
        }
    }
    *out = std::move(ns);
    return {};
}

std::string namespace_flag_text(const pubsub::ChannelNamespace& ns) {
    const ChannelOptions defaults;
    std::string out = ns.name;
    if (ns.options.history_size != defaults.history_size) {
        out += ",history_size=";
        out += std::to_string(ns.options.history_size);
    }
    if (ns.options.history_ttl_s != defaults.history_ttl_s) {
        out += ",history_ttl=";
        out += std::to_string(ns.options.history_ttl_s);
    }
    ChannelOptions copy = ns.options;
    for (const NamespaceOption& o : kOptions) {
        if (o.type != NamespaceOptionType::toggle) continue;
        if (!*toggle_of(o.name, &copy)) continue;
        out += ',';
        out.append(o.name);
        out += "=true";
    }
    return out;
}

std::string check_namespaces(const std::vector<pubsub::ChannelNamespace>& namespaces) {
    for (size_t i = 0; i < namespaces.size(); ++i) {
        if (!pubsub::valid_namespace_name(namespaces[i].name))
            return "bad namespace name '" + namespaces[i].name + "'";
        for (size_t j = 0; j < i; ++j) {
            if (namespaces[j].name == namespaces[i].name)
                return "namespace '" + namespaces[i].name + "' is defined twice";
        }
    }
    return {};
}

}  // namespace wsgate::gateway
