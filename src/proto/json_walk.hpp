// A validating walk over simdjson On-Demand values, shared by the .cpp files
// that parse JSON (Centrifugo commands, JWT header and claims). On-Demand
// validates only what is read, so a value that is merely skipped could hold
// `tru` or `"\x"` unnoticed; walk_value reads every value to the end, so a
// command is accepted only if it is JSON as RFC 8259 defines it. Include only
// from .cpp files: simdjson.h is large.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string_view>
#include <utility>

namespace wsgate::proto::json {

namespace od = simdjson::ondemand;

// What a walk found beyond "malformed", which stops it at once. A value
// nested deeper than max_depth is not descended into (the enclosing object
// or array skips it, without recursion) and the walk goes on, so the verdict
// on the rest of the document does not depend on where the depth ran out.
struct WalkState {
    int max_depth;
    bool too_deep = false;
};

constexpr bool is_json_whitespace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';  // RFC 8259 §2
}

inline std::string_view trim_right(std::string_view s) {
    while (!s.empty() && is_json_whitespace(s.back()))
        s.remove_suffix(1);
    return s;
}

// RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
// Any magnitude: the grammar has no range, and a relayed value keeps its text.
constexpr bool is_json_number(std::string_view s) {
    size_t i = 0;
    auto digit = [&](size_t at) { return at < s.size() && s[at] >= '0' && s[at] <= '9'; };
    if (i < s.size() && s[i] == '-') ++i;
    if (!digit(i)) return false;
    if (s[i] == '0') {
        ++i;
    } else {
        while (digit(i))
            ++i;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digit(i)) return false;
        while (digit(i))
            ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digit(i)) return false;
        while (digit(i))
            ++i;
    }
    return i == s.size();
}

// Reads `value` to its end, validating every string (escapes, via the
// parser's string buffer), literal and number in it; false when it is not
// JSON. `depth` is the depth of `value` (the document's root is 1). Scalars
// other than strings are checked from their text and left unconsumed:
// On-Demand skips them when the enclosing object or array moves on.
inline bool walk_value(od::value value, int depth, WalkState& state) {
    if (depth > state.max_depth) {
        state.too_deep = true;
        return true;
    }
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return false;
    switch (type) {
        case od::json_type::object: {
            od::object object;
            if (value.get_object().get(object) != simdjson::SUCCESS) return false;
            for (auto field_result : object) {
                od::field field;
                if (std::move(field_result).get(field) != simdjson::SUCCESS) return false;
                std::string_view key;
                if (field.unescaped_key().get(key) != simdjson::SUCCESS) return false;
                if (!walk_value(field.value(), depth + 1, state)) return false;
            }
            return true;
        }
        case od::json_type::array: {
            od::array array;
            if (value.get_array().get(array) != simdjson::SUCCESS) return false;
            for (auto element_result : array) {
                od::value element;
                if (std::move(element_result).get(element) != simdjson::SUCCESS) return false;
                if (!walk_value(element, depth + 1, state)) return false;
            }
            return true;
        }
        case od::json_type::string: {
            std::string_view s;
            return value.get_string().get(s) == simdjson::SUCCESS;
        }
        case od::json_type::number:
            return is_json_number(trim_right(value.raw_json_token()));
        case od::json_type::boolean: {
            std::string_view text = trim_right(value.raw_json_token());
            return text == "true" || text == "false";
        }
        case od::json_type::null:
            return trim_right(value.raw_json_token()) == "null";
    }
    return false;
}

// True when `value` is the literal null (checked, not consumed).
inline bool is_null(od::value& value) {
    od::json_type type;
    return value.type().get(type) == simdjson::SUCCESS && type == od::json_type::null &&
           trim_right(value.raw_json_token()) == "null";
}

// Walks `value` like walk_value and returns in `raw` its exact text in the
// input: for a container, from its first byte to the last before the next
// structural character (`,` `}` `]`) with trailing whitespace dropped.
inline bool walk_raw(od::document& doc, od::value value, int depth, WalkState& state,
                     std::string_view& raw) {
    const char* begin = value.raw_json_token().data();
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return false;
    if (type != od::json_type::object && type != od::json_type::array) {
        raw = trim_right(value.raw_json_token());
        return walk_value(value, depth, state);
    }
    if (!walk_value(value, depth, state)) return false;
    const char* next = nullptr;
    if (doc.current_location().get(next) != simdjson::SUCCESS) return false;
    raw = trim_right(std::string_view(begin, static_cast<size_t>(next - begin)));
    return true;
}

}  // namespace wsgate::proto::json
