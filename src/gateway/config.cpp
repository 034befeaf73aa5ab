// The command line, --help and the effective-configuration printer, all
// driven by the settings table (gateway/config_settings.hpp).
#include "gateway/config.hpp"

#include "gateway/edge_config.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

#include "gateway/config_settings.hpp"
#include "gateway/edge_config.hpp"
#include "gateway/namespace_config.hpp"

namespace wsgate::gateway {

namespace {

constexpr size_t kHelpColumn = 29;  // where help text starts
constexpr size_t kHelpWidth = 80;

// Appends `left` and `text` word-wrapped into the help column.
void append_help_entry(std::string* out, std::string_view left, std::string_view text) {
    *out += left;
    size_t column = left.size();
    if (column + 2 > kHelpColumn) {
        *out += "  ";
        column += 2;
    } else {
        out->append(kHelpColumn - column, ' ');
        column = kHelpColumn;
    }
    bool line_start = true;
    while (!text.empty()) {
        size_t space = text.find(' ');
        std::string_view word = text.substr(0, space);
        text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
        if (!line_start && column + 1 + word.size() > kHelpWidth) {
            *out += '\n';
            out->append(kHelpColumn, ' ');
            column = kHelpColumn;
            line_start = true;
        }
        if (!line_start) {
            *out += ' ';
            ++column;
        }
        *out += word;
        column += word.size();
        line_start = false;
    }
    *out += '\n';
}

// --help's default for a row: its note, else its value in Config{} without
// TOML's quotes and brackets; toggles and unset strings show none.
std::string help_default(const Setting& s, const Config& defaults) {
    if (!s.default_note.empty()) return std::string(s.default_note);
    if (s.type == SettingType::toggle || s.type == SettingType::command_line) return {};
    std::string value = s.get(defaults);
    std::erase_if(value, [](char c) { return c == '"' || c == '[' || c == ']'; });
    return value;
}

std::string bad_value(std::string_view flag, std::string_view value) {
    return "bad value for " + std::string(flag) + ": " + std::string(value);
}

struct FlagValue {
    const Setting* setting;
    std::string_view flag;   // as written, for messages
    std::string_view value;  // toggles: "true" unless --name=false
};

}  // namespace

std::string config_help() {
    std::string out =
        "usage: wsgate [flags]\n"
        "       wsgate check-config FILE [flags]   validate a --config file (and flags\n"
        "           over it), print the effective configuration, every key, as TOML;\n"
        "           exit 0, else 2\n";
    const Config defaults;
    for (const Setting& s : settings()) {
        if (!s.heading.empty()) {
            out += s.heading;
            out += ":\n";
        }
        std::string left = "  --";
        left += s.name;
        if (!s.value_name.empty()) {
            left += ' ';
            left += s.value_name;
        }
        std::string text(s.help);
        std::string def = help_default(s, defaults);
        if (!def.empty()) {
            text += " (default ";
            text += def;
            text += ')';
        }
        append_help_entry(&out, left, text);
    }
    return out;
}

std::string parse_config(int argc, const char* const* argv, Config* config) {
    // First every flag is named and given its value; then the file (if any)
    // is loaded and the flags applied over it, in order.
    std::vector<FlagValue> flags;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        std::string_view value;
        size_t eq = flag.find('=');
        bool has_inline = flag.starts_with("--") && eq != std::string_view::npos;
        if (has_inline) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        const Setting* setting = nullptr;
        if (flag == "-h") {
            setting = find_setting("help");
        } else if (flag.starts_with("--")) {
            setting = find_setting(flag.substr(2));
        }
        if (setting == nullptr) {
            std::string message = "unknown flag " + std::string(flag);
            const Setting* near =
                flag.starts_with("--") ? nearest_setting(flag.substr(2), false) : nullptr;
            if (near != nullptr)
                return message + " (did you mean --" + std::string(near->name) + "?)";
            return message + " (see --help)";
        }
        bool takes_value = !setting->value_name.empty();
        if (!takes_value) {
            if (!has_inline) value = "true";
        } else if (!has_inline) {
            if (i + 1 >= argc) return "missing value for " + std::string(flag);
            value = argv[++i];
        }
        flags.push_back({setting, flag, value});
    }
    // Command-line-only flags first: --config must be known before the rest.
    for (const FlagValue& f : flags) {
        if (f.setting->type == SettingType::command_line && !f.setting->set(f.value, config))
            return bad_value(f.flag, f.value);
    }
    if (!config->config_file.empty()) {
        std::string error = load_config_file(config->config_file, config);
        if (!error.empty()) return error;
    }
    std::vector<const Setting*> replaced;  // lists the flags have started over
    for (const FlagValue& f : flags) {
        if (f.setting->type == SettingType::command_line) continue;
        if (f.setting->type == SettingType::text_list &&
            std::find(replaced.begin(), replaced.end(), f.setting) == replaced.end()) {
            // A list from the flags replaces the default or the file's list.
            replaced.push_back(f.setting);
            f.setting->clear(config);
        }
        if (!f.setting->set(f.value, config)) return bad_value(f.flag, f.value);
    }
    return check_config(*config);
}

std::string check_config(const Config& config) {
    // Each worker would need an admin address of its own, and a scrape of one
    // would show a fraction of the traffic.
    if (!config.admin_listen.empty() && config.workers > 1) {
        return "--admin-listen is not available with --workers > 1 (use --threads)";
    }
    // Worker processes share no memory: each would be a hub of its own, and a
    // publication would reach only the subscribers of the process that took it.
    if (config.mode == Mode::pubsub && config.workers > 1) {
        return "--workers > 1 is not available with --mode pubsub (use --threads: the loops of "
               "one process share the hub)";
    }
    if (std::string e = check_namespaces(config.hub.namespaces); !e.empty()) return e;
    if (config.hub.redis_engine && (config.mode != Mode::pubsub || config.redis.empty())) {
        return "--engine redis needs --mode pubsub and at least one --redis HOST:PORT";
    }
    if (!config.redis.empty() && !config.hub.redis_engine) {
        return "--redis needs --engine redis";
    }
    if (config.hub.redis_engine && config.direct_descriptors) {
        return "--direct-descriptors is not available with --engine redis (Redis links are "
               "plain descriptors)";
    }
    ws::EdgeLimits edge;
    if (std::string e = edge_limits(config, &edge); !e.empty()) return e;
    if (config.mode == Mode::proxy) {
        proxy::RouteTable table;
        if (std::string e = proxy_routes(config, &table); !e.empty()) return e;
        // epoll has no registered files: a proxied connection holds two
        // process descriptors there, RLIMIT_NOFILE / 2 per process.
        if (config.direct_descriptors && config.backend == io::BackendKind::epoll) {
            return "--direct-descriptors needs io_uring (with epoll a proxied connection holds two "
                   "descriptors: past RLIMIT_NOFILE / 2 use --workers, processes with a limit "
                   "each)";
        }
    } else if (!config.upstreams.empty() || !config.routes.empty() || !config.balances.empty() ||
               !config.health_checks.empty()) {
        return "--upstream, --route, --balance and --health-check need --mode proxy";
    }
    if (config.tls_certs.size() != config.tls_keys.size()) {
        return "--tls-cert and --tls-key come in pairs (" +
               std::to_string(config.tls_certs.size()) + " certificates, " +
               std::to_string(config.tls_keys.size()) + " keys)";
    }
    if (has_tls_listener(config) && config.tls_certs.empty()) {
        return "a TLS listener (--listen ADDR:PORT,tls) needs --tls-cert and --tls-key";
    }
    return {};
}

std::string_view listen_address(std::string_view text, bool* tls) {
    constexpr std::string_view kTlsSuffix = ",tls";
    *tls = text.size() > kTlsSuffix.size() && text.ends_with(kTlsSuffix);
    return *tls ? text.substr(0, text.size() - kTlsSuffix.size()) : text;
}

bool has_tls_listener(const Config& config) {
    for (const std::string& text : config.listen) {
        bool tls = false;
        listen_address(text, &tls);
        if (tls) return true;
    }
    return false;
}

tls::TlsSettings tls_settings(const Config& config) {
    tls::TlsSettings s;
    for (size_t i = 0; i < config.tls_certs.size() && i < config.tls_keys.size(); ++i)
        s.certificates.push_back({config.tls_certs[i], config.tls_keys[i]});
    s.ciphers = config.tls_ciphers;
    s.ciphersuites = config.tls_ciphersuites;
    s.ticket_key_rotation_s = config.tls_ticket_key_rotation_s;
    return s;
}

std::string proxy_routes(const Config& config, proxy::RouteTable* table) {
    for (const std::string& u : config.upstreams) {
        if (std::string e = table->add_upstream(u); !e.empty()) return e;
    }
    for (const std::string& r : config.routes) {
        if (std::string e = table->add_route(r); !e.empty()) return e;
    }
    for (const std::string& b : config.balances) {
        if (std::string e = table->add_balance(b); !e.empty()) return e;
    }
    for (const std::string& h : config.health_checks) {
        if (std::string e = table->add_health_check(h); !e.empty()) return e;
    }
    table->set_hash_balance_factor(config.hash_balance_factor);
    table->set_passive(config.passive_health);
    return table->finish();
}

std::string format_config(const Config& config) {
    std::string out;
    for (const Setting& s : settings()) {
        if (s.type == SettingType::command_line) continue;
        if (!s.heading.empty()) out += "\n# " + std::string(s.heading) + "\n";
        std::string value = s.get(config);
        if (value.empty()) {
            out += "# " + std::string(s.name) + " is not set\n";
        } else {
            out += std::string(s.name) + " = " + value + "\n";
        }
    }
    return out;
}

uint32_t resolved_max_handshakes(const Config& config) {
    uint32_t n = config.max_handshakes != 0 ? config.max_handshakes : config.max_connections / 4;
    return std::clamp<uint32_t>(n, 1, config.max_connections);
}

uint32_t resolved_max_handshakes_per_ip(const Config& config) {
    if (config.max_handshakes_per_ip != 0) return config.max_handshakes_per_ip;
    return std::max<uint32_t>(1, resolved_max_handshakes(config) / 4);
}

}  // namespace wsgate::gateway
