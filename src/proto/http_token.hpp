// Character classes and token-list helpers shared by the HTTP request parser
// and the WebSocket handshake checks (RFC 9110 §5.6).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace wsgate::proto {

namespace detail {

constexpr std::array<bool, 256> make_tchar_table() {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c)
        table[static_cast<size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        table[static_cast<size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c)
        table[static_cast<size_t>(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        table[static_cast<unsigned char>(c)] = true;
    return table;
}

}  // namespace detail

// RFC 9110 §5.6.2: tchar, the characters of a token (method, header name,
// extension name).
inline constexpr std::array<bool, 256> kTcharTable = detail::make_tchar_table();

inline bool is_tchar(char c) {
    return kTcharTable[static_cast<unsigned char>(c)];
}

// RFC 9110 §5.6.3: optional whitespace is SP or HTAB.
inline bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

inline bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (!is_tchar(c)) return false;
    }
    return true;
}

inline char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// ASCII case-insensitive equality (header names, tokens; RFC 9110 §5.1).
inline bool ascii_iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

inline std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

// True when the comma-separated list (RFC 9110 §5.6.1, empty elements
// allowed) has an element equal to `token`, compared case-insensitively.
inline bool list_contains_token(std::string_view list, std::string_view token) {
    while (true) {
        size_t comma = list.find(',');
        if (ascii_iequals(trim_ows(list.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) return false;
        list.remove_prefix(comma + 1);
    }
}

}  // namespace wsgate::proto
