#include "gateway/http_endpoints.hpp"

#include <cstdio>
#include <string_view>

#include "gateway/demo_page.hpp"
#include "gateway/pubsub_page.hpp"
#include "proto/http_response.hpp"

namespace wsgate::gateway {

namespace {

constexpr size_t kHeadCap = 512;
constexpr std::string_view kHealthBody = "ok\n";
// Where the Centrifugo SDKs connect (docs/centrifugo-protocol.md, Framing).
constexpr std::string_view kClientEndpoint = "/connection/websocket";

void respond(ws::Outbound& out, int status, std::string_view content_type, std::string_view body,
             bool head_only, bool keep_alive) {
    char head[kHeadCap];
    size_t n = proto::write_http_response_head(head, sizeof(head), status, content_type,
                                               body.size(), keep_alive);
    out.send_raw({head, n});
    if (!head_only) out.send_raw(body);
}

std::string_view path_of(const proto::HttpRequest& request) {
    return request.target.substr(0, request.target.find('?'));
}

// GET|HEAD / answers `page`, GET|HEAD /healthz "ok", other paths 404, other
// methods on those two 405.
void serve_page_or_health(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out,
                          std::string_view page) {
    std::string_view path = path_of(request);
    std::string_view body;
    std::string_view type;
    if (path == "/") {
        body = page;
        type = "text/html; charset=utf-8";
    } else if (path == "/healthz") {
        body = kHealthBody;
        type = "text/plain";
    } else {
        respond(out, 404, "text/plain", "not found\n", request.method == "HEAD", keep_alive);
        return;
    }
    bool head_only = request.method == "HEAD";
    if (request.method != "GET" && !head_only) {
        // RFC 9110 §15.5.6: a 405 lists the allowed methods, those that would succeed
        // for this request: the plain endpoints answer GET and HEAD. (A 405 to a
        // WebSocket upgrade says "Allow: GET": only GET upgrades, RFC 6455 §4.1.)
        std::string_view reason = "method not allowed\n";
        char head[kHeadCap];
        int n = std::snprintf(head, sizeof(head),
                              "HTTP/1.1 405 Method Not Allowed\r\n"
                              "Content-Type: text/plain\r\n"
                              "Content-Length: %zu\r\n"
                              "Allow: GET, HEAD\r\n"
                              "Connection: %s\r\n\r\n",
                              reason.size(), keep_alive ? "keep-alive" : "close");
        out.send_raw({head, static_cast<size_t>(n)});
        out.send_raw(reason);
        return;
    }
    respond(out, 200, type, body, head_only, keep_alive);
}

}  // namespace

void serve_http(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out) {
    serve_page_or_health(request, keep_alive, out, kDemoPage);
}

void serve_pubsub_http(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out) {
    if (path_of(request) == kClientEndpoint) {
        // RFC 9110 §15.5.22: a 426 names the protocol in Upgrade, and §7.8: a
        // sender of Upgrade lists "Upgrade" in Connection. The version is the
        // one RFC 6455 §4.4 asks a server to state.
        std::string_view reason = "this endpoint only answers WebSocket upgrades\n";
        char head[kHeadCap];
        int n = std::snprintf(head, sizeof(head),
                              "HTTP/1.1 426 Upgrade Required\r\n"
                              "Content-Type: text/plain\r\n"
                              "Content-Length: %zu\r\n"
                              "Upgrade: websocket\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "Connection: Upgrade, %s\r\n\r\n",
                              reason.size(), keep_alive ? "keep-alive" : "close");
        out.send_raw({head, static_cast<size_t>(n)});
        if (request.method != "HEAD") out.send_raw(reason);
        return;
    }
    serve_page_or_health(request, keep_alive, out, kPubsubPage);
}

}  // namespace wsgate::gateway
