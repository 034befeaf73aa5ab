#include "proxy/forwarded_headers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include "proto/http_token.hpp"

namespace wsgate::proxy {

namespace {

bool name_is(std::string_view name, std::string_view expected) {
    return name.size() == expected.size() &&
           strncasecmp(name.data(), expected.data(), name.size()) == 0;
}

void append_list(std::string& list, std::string_view item) {
    if (item.empty()) return;
    if (!list.empty()) list += ", ";
    list += item;
}

// RFC 9110 §5.6.4: quoted-string with " and \ escaped.
void append_quoted(std::string& out, std::string_view value) {
    out += '"';
    for (char ch : value) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    out += '"';
}

}  // namespace

std::string client_address_text(const sockaddr* addr) {
    char text[INET6_ADDRSTRLEN] = {};
    if (addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text,
                  sizeof(text));
    } else if (addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text,
                  sizeof(text));
    }
    return text;
}

std::string forwarded_element(std::string_view client, std::string_view proto,
                              std::string_view host) {
    std::string out = "for=";
    if (client.find(':') != std::string_view::npos) {
        // RFC 7239 §6: an IPv6 node is "[v6addr]", which is not a token.
        out += "\"[";
        out += client;
        out += "]\"";
    } else if (proto::is_token(client)) {
        out += client;
    } else {
        out += "unknown";  // §6.3: the client's address is not known
    }
    out += ";proto=";
    out += proto;
    if (!host.empty()) {
        out += ";host=";
        if (proto::is_token(host)) {
            out += host;
        } else {
            append_quoted(out, host);  // host:port has a ':'
        }
    }
    return out;
}

std::string forwarded_request_head(const proto::HttpRequest& request, std::string_view client,
                                   std::string_view proto, std::string_view websocket_key) {
    std::string xff;
    std::string forwarded;
    std::string out;
    out.reserve(512);
    out += request.method;
    out += ' ';
    out += request.target;
    out += " HTTP/1.";
    out += static_cast<char>('0' + (request.minor_version > 9 ? 1 : request.minor_version));
    out += "\r\n";
    for (size_t i = 0; i < request.header_count; ++i) {
        const proto::HttpHeader& h = request.headers[i];
        if (name_is(h.name, "X-Forwarded-For")) {
            append_list(xff, h.value);
        } else if (name_is(h.name, "Forwarded")) {
            append_list(forwarded, h.value);
        } else if (!websocket_key.empty() && name_is(h.name, "Sec-WebSocket-Key")) {
            out += "Sec-WebSocket-Key: ";
            out += websocket_key;
            out += "\r\n";
        } else if (!websocket_key.empty() && name_is(h.name, "Sec-WebSocket-Extensions")) {
            continue;
        } else if (!name_is(h.name, "X-Forwarded-Proto")) {
            out += h.name;
            out += ": ";
            out += h.value;
            out += "\r\n";
        }
    }
    append_list(xff, client.empty() ? std::string_view("unknown") : client);
    append_list(forwarded,
                forwarded_element(client, proto, request.first_value(proto::KnownHeader::host)));
    out += "X-Forwarded-For: " + xff + "\r\n";
    out += "X-Forwarded-Proto: ";
    out += proto;
    out += "\r\nForwarded: " + forwarded + "\r\n\r\n";
    return out;
}

}  // namespace wsgate::proxy
