// Which browser origins may open a WebSocket (RFC 6455 §10.2: the server
// decides from the Origin header whether a page's script may connect; a
// cross-site WebSocket hijack is exactly a page of another origin doing so).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace wsgate::ws {

// Patterns, each one of
//   scheme://host[:port]      exact origin (https://app.example.com:8443)
//   scheme://*.domain[:port]  any subdomain of domain, at any depth, not
//                             domain itself (https://*.example.com)
//   host[:port], *.domain     the same for any scheme
//   *                         any origin
// Hosts and schemes compare case-insensitively (RFC 6454 §4 lowercases
// them in the serialisation); a pattern without a port matches only origins
// without one (the scheme's default, RFC 6454 §6.2 leaves it out). An empty
// list allows everything. Built at start-up, read-only afterwards (shared
// by every loop's thread).
class OriginAllowList {
  public:
    // Adds a pattern; "" or why it is not one.
    std::string add(std::string_view pattern);
    bool empty() const { return patterns_.empty(); }
    size_t size() const { return patterns_.size(); }

    // Whether the value of an Origin header is allowed. A request without
    // Origin (value empty: not sent by a browser, RFC 6455 §4.1 makes it
    // mandatory only for browser clients) is allowed; "null" (an opaque
    // origin, RFC 6454 §7.3) and anything that is not one serialised origin
    // match no pattern except "*".
    bool allows(std::string_view origin) const;

  private:
    struct Pattern {
        std::string scheme;  // lowercase; empty: any
        std::string host;    // lowercase; for a wildcard, the domain after "*."
        std::string port;    // digits; empty: none
        bool any = false;    // "*"
        bool wildcard = false;
    };
    std::vector<Pattern> patterns_;
};

// Which allow-list an upgrade is checked against: the most specific scope
// that has patterns decides, as a web server's most specific location
// does. First the longest path prefix (matched against the path of the
// request target, without its query: the proxy's routes are such
// prefixes), then the listener's own list, then the global one; no
// patterns anywhere: any origin.
class OriginPolicy {
  public:
    static constexpr size_t kListenerSlots = 7;  // listeners 0..5, then the rest together

    OriginAllowList& global() { return global_; }
    OriginAllowList& listener(size_t slot) { return listeners_[slot]; }
    // The list for a path prefix ("/chat"), created on first use.
    OriginAllowList& path(std::string_view prefix);

    bool allows(size_t listener_slot, std::string_view target, std::string_view origin) const;
    bool empty() const;

  private:
    OriginAllowList global_;
    std::array<OriginAllowList, kListenerSlots> listeners_;
    std::vector<std::pair<std::string, OriginAllowList>> paths_;
};

}  // namespace wsgate::ws
