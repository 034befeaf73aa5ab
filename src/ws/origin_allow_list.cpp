#include "ws/origin_allow_list.hpp"

#include <strings.h>

#include <algorithm>
#include <cctype>

namespace wsgate::ws {

namespace {

struct OriginParts {
    std::string_view scheme;  // empty when the text has none
    std::string_view host;    // with its brackets for IPv6
    std::string_view port;    // empty when none
};

bool all_digits(std::string_view s) {
    return !s.empty() && s.size() <= 5 &&
           std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

bool host_char(char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '*' || ch == ':' ||
           ch == '[' || ch == ']';
}

// Splits [scheme://]host[:port]; false for anything else (a path, a user,
// spaces, a list of origins).
bool split_origin(std::string_view text, bool scheme_required, OriginParts* out) {
    size_t sep = text.find("://");
    if (sep != std::string_view::npos) {
        out->scheme = text.substr(0, sep);
        if (out->scheme.empty()) return false;
        for (char ch : out->scheme) {
            auto c = static_cast<unsigned char>(ch);
            if (std::isalnum(c) == 0 && ch != '+' && ch != '-' && ch != '.') return false;
        }
        text.remove_prefix(sep + 3);
    } else if (scheme_required) {
        return false;
    }
    if (text.empty() || !std::all_of(text.begin(), text.end(), host_char)) return false;
    size_t host_end = 0;
    if (text.front() == '[') {
        host_end = text.find(']');
        if (host_end == std::string_view::npos) return false;
        ++host_end;
    } else {
        host_end = text.find(':');
        if (host_end == std::string_view::npos) host_end = text.size();
    }
    out->host = text.substr(0, host_end);
    std::string_view rest = text.substr(host_end);
    if (!rest.empty()) {
        if (rest.front() != ':' || !all_digits(rest.substr(1))) return false;
        out->port = rest.substr(1);
    }
    return !out->host.empty();
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

bool equal_nocase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string OriginAllowList::add(std::string_view text) {
    Pattern p;
    if (text == "*") {
        p.any = true;
        patterns_.push_back(std::move(p));
        return {};
    }
    OriginParts parts;
    if (!split_origin(text, false, &parts)) {
        return "not an origin pattern (scheme://host[:port], *.domain, or *)";
    }
    std::string_view host = parts.host;
    if (host.starts_with("*.")) {
        p.wildcard = true;
        host.remove_prefix(2);
    }
    if (host.empty() || host.find('*') != std::string_view::npos) {
        return "a wildcard may only be a leading \"*.\" of the host";
    }
    p.scheme = lower(parts.scheme);
    p.host = lower(host);
    p.port = parts.port;
    patterns_.push_back(std::move(p));
    return {};
}

bool OriginAllowList::allows(std::string_view origin) const {
    if (patterns_.empty() || origin.empty()) return true;
    OriginParts parts;
    bool parsed =
        split_origin(origin, true, &parts) && parts.host.find('*') == std::string_view::npos;
    for (const Pattern& p : patterns_) {
        if (p.any) return true;
        if (!parsed) continue;
        if (!p.scheme.empty() && !equal_nocase(p.scheme, parts.scheme)) continue;
        if (p.port != parts.port) continue;
        if (!p.wildcard) {
            if (equal_nocase(p.host, parts.host)) return true;
            continue;
        }
        // *.example.com: host ends with ".example.com" and has a label before it.
        std::string_view host = parts.host;
        if (host.size() > p.host.size() + 1 &&
            equal_nocase(host.substr(host.size() - p.host.size()), p.host) &&
            host[host.size() - p.host.size() - 1] == '.') {
            return true;
        }
    }
    return false;
}

OriginAllowList& OriginPolicy::path(std::string_view prefix) {
    for (auto& [p, list] : paths_) {
        if (p == prefix) return list;
    }
    return paths_.emplace_back(std::string(prefix), OriginAllowList{}).second;
}

bool OriginPolicy::empty() const {
    if (!global_.empty() || !paths_.empty()) return false;
    for (const OriginAllowList& l : listeners_) {
        if (!l.empty()) return false;
    }
    return true;
}

bool OriginPolicy::allows(size_t listener_slot, std::string_view target,
                          std::string_view origin) const {
    std::string_view path = target.substr(0, target.find('?'));
    const OriginAllowList* best = nullptr;
    size_t best_len = 0;
    for (const auto& [prefix, list] : paths_) {
        if (path.starts_with(prefix) && (best == nullptr || prefix.size() > best_len)) {
            best = &list;
            best_len = prefix.size();
        }
    }
    if (best == nullptr) {
        const OriginAllowList& own = listeners_[std::min(listener_slot, kListenerSlots - 1)];
        best = own.empty() ? &global_ : &own;
    }
    return best->allows(origin);
}

}  // namespace wsgate::ws
