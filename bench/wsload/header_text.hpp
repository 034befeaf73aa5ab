// Small pieces of HTTP header text handling shared by wsload's response
// readers (the upgrade response and the server API's responses).
#pragma once

#include <algorithm>
#include <cctype>
#include <string_view>

namespace wsgate::bench {

// Header names and tokens compare case-insensitively (RFC 9110 §5.1).
inline bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// A field value without its optional whitespace (RFC 9110 §5.5: SP / HTAB).
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace wsgate::bench
