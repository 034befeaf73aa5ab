// The TOML configuration file (--config FILE, wsgate check-config FILE):
// each key is a row of the settings table, its value converted to the flag's
// spelling and checked by the same code as the flag (toml++, Debian's
// libtomlplusplus-dev, gives every key and value its line and column).
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/config_settings.hpp"
#include "gateway/namespace_config.hpp"

namespace wsgate::gateway {

namespace {

std::string at(std::string_view source, const toml::source_position& p) {
    return std::string(source) + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) +
           ": ";
}

std::string_view expected(SettingType type) {
    switch (type) {
        case SettingType::toggle:
            return "a boolean (true or false)";
        case SettingType::integer:
            return "an integer";
        case SettingType::integer_or_auto:
            return "an integer or \"auto\"";
        case SettingType::seconds:
            return "a number of seconds";
        case SettingType::number:
            return "a number";
        case SettingType::text:
            return "a string";
        case SettingType::text_list:
            return "a non-empty array of strings";
        case SettingType::command_line:
            break;
    }
    return "nothing";
}

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date or time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// The value in the flag's spelling, if `node` has the TOML type `type` takes.
std::optional<std::string> flag_text(SettingType type, const toml::node& node) {
    if (const auto* b = node.as_boolean(); b != nullptr && type == SettingType::toggle)
        return b->get() ? "true" : "false";
    if (const auto* i = node.as_integer(); i != nullptr) {
        if (type == SettingType::integer || type == SettingType::integer_or_auto ||
            type == SettingType::seconds || type == SettingType::number)
            return std::to_string(i->get());
    }
    if (const auto* f = node.as_floating_point();
        f != nullptr && (type == SettingType::seconds || type == SettingType::number)) {
        char buf[64];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f->get());
        if (ec == std::errc()) return std::string(buf, end);
    }
    if (const auto* s = node.as_string(); s != nullptr) {
        if (type == SettingType::text) return s->get();
        // The one string an integer_or_auto takes; "2" is a type error, as 2.0 is.
        if (type == SettingType::integer_or_auto && s->get() == "auto") return s->get();
    }
    return std::nullopt;
}

std::string type_error(std::string_view source, std::string_view key, const Setting& s,
                       const toml::node& node) {
    std::string message = at(source, node.source().begin) + std::string(key) + ": expected " +
                          std::string(expected(s.type));
    if (s.type == SettingType::text && s.value_name.find('|') != std::string_view::npos)
        message += " (" + std::string(s.value_name) + ")";
    return message + ", got " + std::string(type_name(node));
}

std::string bad_value(std::string_view source, const toml::node& node, std::string_view key,
                      std::string_view text) {
    return at(source, node.source().begin) + "bad value for " + std::string(key) + ": " +
           std::string(text);
}

// [[namespace]] tables: each a name and Centrifugo channel options; they
// replace the namespaces given so far (as an array of strings would).
std::string load_namespace_tables(std::string_view source, const toml::array& tables,
                                  Config* config) {
    std::vector<pubsub::ChannelNamespace> loaded;
    for (const toml::node& item : tables) {
        const toml::table* table = item.as_table();
        if (table == nullptr) {
            return at(source, item.source().begin) +
                   "namespace: expected tables ([[namespace]]) or strings, got " +
                   std::string(type_name(item));
        }
        pubsub::ChannelNamespace ns;
        bool named = false;
        // toml++ orders a table by key: report in the file's order.
        std::vector<std::pair<const toml::key*, const toml::node*>> entries;
        for (auto&& [key, node] : *table)
            entries.emplace_back(&key, &node);
        std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
            const auto& pa = a.first->source().begin;
            const auto& pb = b.first->source().begin;
            return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
        });
        for (const auto& [key, node] : entries) {
            std::string_view name = key->str();
            if (name == "name") {
                const auto* text = node->as_string();
                if (text == nullptr) {
                    return at(source, node->source().begin) +
                           "namespace name: expected a string, got " +
                           std::string(type_name(*node));
                }
                if (!pubsub::valid_namespace_name(text->get())) {
                    return at(source, node->source().begin) + "bad namespace name '" + text->get() +
                           "' (2 or more of letters, digits, '-', '_', '.')";
                }
                for (const pubsub::ChannelNamespace& other : loaded) {
                    if (other.name == text->get()) {
                        return at(source, node->source().begin) + "namespace '" + text->get() +
                               "' is defined twice";
                    }
                }
                ns.name = text->get();
                named = true;
                continue;
            }
            const NamespaceOption* option = find_namespace_option(name);
            if (option == nullptr)
                return at(source, key->source().begin) + unknown_namespace_option(name);
            std::string value;
            if (const auto* b = node->as_boolean();
                b != nullptr && option->type == NamespaceOptionType::toggle) {
                value = b->get() ? "true" : "false";
            } else if (const auto* i = node->as_integer();
                       i != nullptr && option->type != NamespaceOptionType::toggle) {
                value = std::to_string(i->get());
            } else if (const auto* t = node->as_string();
                       t != nullptr && option->type == NamespaceOptionType::seconds) {
                value = t->get();
            } else {
                std::string_view want =
                    option->type == NamespaceOptionType::toggle ? "a boolean (true or false)"
                    : option->type == NamespaceOptionType::count
                        ? "an integer"
                        : "a number of seconds or a duration (\"300s\", \"5m\")";
                return at(source, node->source().begin) + std::string(name) + ": expected " +
                       std::string(want) + ", got " + std::string(type_name(*node));
            }
            if (!set_namespace_option(*option, value, &ns.options)) {
                return at(source, node->source().begin) + "bad value for " + std::string(name) +
                       ": " + value;
            }
        }
        if (!named) return at(source, item.source().begin) + "namespace without a name";
        loaded.push_back(std::move(ns));
    }
    config->hub.namespaces = std::move(loaded);
    return {};
}

std::string apply(std::string_view source, const toml::key& key, const toml::node& node,
                  Config* config) {
    const Setting* s = find_setting(key.str());
    if (s == nullptr || s->type == SettingType::command_line) {
        std::string message = at(source, key.source().begin);
        if (s != nullptr)
            return message + std::string(key.str()) + " is a command-line flag, not a file key";
        message += "unknown key '" + std::string(key.str()) + "'";
        if (const Setting* near = nearest_setting(key.str(), true); near != nullptr)
            return message + " (did you mean '" + std::string(near->name) + "'?)";
        return message;
    }
    if (s->name == "namespace") {
        if (const toml::array* items = node.as_array();
            items != nullptr && !items->empty() && !(*items)[0].is_string()) {
            return load_namespace_tables(source, *items, config);
        }
    }
    if (s->type == SettingType::text_list) {
        const toml::array* items = node.as_array();
        if (items == nullptr || items->empty()) return type_error(source, key.str(), *s, node);
        s->clear(config);
        for (const toml::node& item : *items) {
            const auto* text = item.as_string();
            if (text == nullptr) return type_error(source, key.str(), *s, item);
            if (!s->set(text->get(), config))
                return bad_value(source, item, key.str(), text->get());
        }
        return {};
    }
    std::optional<std::string> text = flag_text(s->type, node);
    if (!text) return type_error(source, key.str(), *s, node);
    if (!s->set(*text, config)) return bad_value(source, node, key.str(), *text);
    return {};
}

}  // namespace

std::string load_config_text(std::string_view toml, std::string_view source, Config* config) {
    toml::table table;
    try {
        table = toml::parse(toml, source);
    } catch (const toml::parse_error& e) {
        return at(source, e.source().begin) + std::string(e.description());
    }
    // The table is ordered by key; errors are reported in the file's order.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [key, node] : table)
        entries.emplace_back(&key, &node);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        const auto& pa = a.first->source().begin;
        const auto& pb = b.first->source().begin;
        return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    for (const auto& [key, node] : entries) {
        std::string error = apply(source, *key, *node, config);
        if (!error.empty()) return error;
    }
    return {};
}

std::string load_config_file(const std::string& path, Config* config) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot read " + path + ": " + std::strerror(errno);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return "cannot read " + path + ": " + std::strerror(errno);
    return load_config_text(text.str(), path, config);
}

}  // namespace wsgate::gateway
