// The one table of wsgate's settings. Each row defines a setting once: its
// name (the flag without "--" and the configuration file's key), the TOML
// type a file gives it, its help text, how a value is checked and applied,
// and how the current value is written back as TOML. The flag parser, the
// file loader, --help and the effective-configuration printer all walk it;
// the defaults are Config's member initializers.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "gateway/config.hpp"

namespace wsgate::gateway {

// How a setting is written in a file, and whether a flag takes a value.
enum class SettingType : uint8_t {
    toggle,           // flag alone (or --name=true|false); file: a boolean
    integer,          // file: an integer
    integer_or_auto,  // file: an integer or "auto" (a default derived at start-up)
    seconds,          // file: a number (integer or float) of seconds
    number,           // file: a number (integer or float)
    text,             // file: a string (choices such as "on" | "off" too)
    text_list,        // repeatable flag; file: an array of strings
    command_line,     // a flag only (--config, --help...), never a file key
};

struct Setting {
    std::string_view name;
    SettingType type;
    std::string_view value_name{};    // shown in --help: N, SECONDS, on|off; empty for toggles
    std::string_view help{};          // one paragraph, wrapped by config_help()
    std::string_view default_note{};  // --help's "(default ...)" when the value alone would
                                      // mislead ("auto": what it resolves to); empty: the value
    std::string_view heading{};       // --help and the printer start a group here
    // Checks `text` (a flag's value, or a file value in the flag's spelling)
    // and applies it. false: a bad value, *config unchanged.
    bool (*set)(std::string_view text, Config* config);
    // The value as TOML; empty: not set (an optional string). Unused for
    // command_line rows.
    std::string (*get)(const Config& config);
    // text_list rows: empties the list (the first flag, or a file's array,
    // replaces the default rather than adding to it). nullptr otherwise.
    void (*clear)(Config* config) = nullptr;
};

// Every setting, in --help order.
std::span<const Setting> settings();

// The row named `name` (no "--"), or nullptr.
const Setting* find_setting(std::string_view name);

// The row whose name is nearest to an unknown `name` by edit distance, if
// it is close enough to be a likely typo; nullptr otherwise. file_keys_only
// leaves out command_line rows.
const Setting* nearest_setting(std::string_view name, bool file_keys_only);

// `text` as a TOML basic string, quoted and escaped (TOML 1.0 "String").
std::string toml_quoted(std::string_view text);

}  // namespace wsgate::gateway
