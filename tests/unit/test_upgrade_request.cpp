#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "http_test_input.hpp"
#include "proto/extension_offer.hpp"
#include "proto/upgrade_request.hpp"

namespace wsgate::proto {
namespace {

using test::chromium_request;
using test::parse_guarded;

using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers kValidHeaders = {
    {"Host", "server.example.com"},   {"Upgrade", "websocket"},
    {"Connection", "Upgrade"},        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
    {"Origin", "http://example.com"}, {"Sec-WebSocket-Protocol", "chat, superchat"},
    {"Sec-WebSocket-Version", "13"},
};

std::string build(const Headers& headers, std::string_view request_line = "GET /chat HTTP/1.1") {
    std::string s(request_line);
    s += "\r\n";
    for (const auto& [name, value] : headers)
        s += name + ": " + value + "\r\n";
    return s + "\r\n";
}

// kValidHeaders with `name` replaced by `value` (removed when value is null).
Headers with(const std::string& name, const char* value) {
    Headers h;
    for (const auto& header : kValidHeaders) {
        if (header.first != name) {
            h.push_back(header);
        } else if (value != nullptr) {
            h.push_back({name, value});
        }
    }
    return h;
}

Headers plus(Headers h, const std::string& name, const std::string& value) {
    h.push_back({name, value});
    return h;
}

// Parses (at a guard page) and validates; returns the handshake status.
int handshake_status(const std::string& input) {
    auto p = parse_guarded(input);
    EXPECT_EQ(p.result.status, ParseStatus::complete) << p.result.reason;
    if (p.result.status != ParseStatus::complete) return -1;
    UpgradeRequest up;
    HandshakeError e = validate_upgrade(p.request, up);
    if (e.status != 0) {
        EXPECT_FALSE(e.reason.empty());
    }
    return e.status;
}

TEST(UpgradeRequest, ChromiumRequestValidates) {
    auto p = parse_guarded(chromium_request());
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_TRUE(is_upgrade_request(p.request));
    UpgradeRequest up;
    HandshakeError e = validate_upgrade(p.request, up);
    ASSERT_EQ(e.status, 0) << e.reason;
    EXPECT_EQ(up.target, "/");
    EXPECT_EQ(up.host, "127.0.0.1:41427");
    EXPECT_EQ(up.origin, "http://127.0.0.1:41427");
    EXPECT_EQ(up.key, "EibSFDGYNGf4NOFS0ZrIaw==");
    EXPECT_EQ(up.protocols, "");
    ASSERT_EQ(up.extensions.count, 1u);
    const ExtensionOffer& offer = up.extensions.offers[0];
    EXPECT_EQ(offer.name, "permessage-deflate");
    ASSERT_EQ(offer.param_count, 1u);
    EXPECT_EQ(offer.params[0].name, "client_max_window_bits");
    EXPECT_FALSE(offer.params[0].has_value);
    EXPECT_EQ(offer.params[0].value, "");
}

TEST(UpgradeRequest, Rfc6455ExampleValidates) {
    auto p = parse_guarded(build(kValidHeaders));
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    UpgradeRequest up;
    ASSERT_EQ(validate_upgrade(p.request, up).status, 0);
    EXPECT_EQ(up.target, "/chat");
    EXPECT_EQ(up.host, "server.example.com");
    EXPECT_EQ(up.protocols, "chat, superchat");
    EXPECT_EQ(up.key, "dGhlIHNhbXBsZSBub25jZQ==");
    EXPECT_EQ(up.extensions.count, 0u);
}

TEST(UpgradeRequest, IsUpgradeRequest) {
    auto plain =
        parse_guarded("GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_FALSE(is_upgrade_request(plain.request));
    auto key_only = parse_guarded("GET / HTTP/1.1\r\nsec-websocket-key: x\r\n\r\n");
    EXPECT_TRUE(is_upgrade_request(key_only.request));
    auto upgrade_only = parse_guarded("GET / HTTP/1.1\r\nUPGRADE: h2c\r\n\r\n");
    EXPECT_TRUE(is_upgrade_request(upgrade_only.request));
}

TEST(UpgradeRequest, MethodAndVersion) {
    EXPECT_EQ(handshake_status(build(kValidHeaders, "POST /chat HTTP/1.1")), 405);
    EXPECT_EQ(handshake_status(build(kValidHeaders, "get /chat HTTP/1.1")), 405);
    EXPECT_EQ(handshake_status(build(kValidHeaders, "GET /chat HTTP/1.0")), 400);
    EXPECT_EQ(handshake_status(build(kValidHeaders, "GET /chat HTTP/1.2")), 0);
    auto p = parse_guarded(build(kValidHeaders, "GET /chat HTTP/2.0"));
    EXPECT_EQ(p.result.http_status, 505);
}

TEST(UpgradeRequest, Host) {
    EXPECT_EQ(handshake_status(build(with("Host", nullptr))), 400);
    EXPECT_EQ(handshake_status(build(plus(kValidHeaders, "host", "other"))), 400);
}

TEST(UpgradeRequest, UpgradeHeader) {
    EXPECT_EQ(handshake_status(build(with("Upgrade", nullptr))), 400);
    EXPECT_EQ(handshake_status(build(with("Upgrade", "h2c"))), 400);
    EXPECT_EQ(handshake_status(build(with("Upgrade", "websockets"))), 400);
    EXPECT_EQ(handshake_status(build(with("Upgrade", "web socket"))), 400);
    EXPECT_EQ(handshake_status(build(with("Upgrade", "WebSocket"))), 0);
    EXPECT_EQ(handshake_status(build(with("Upgrade", "WEBSOCKET"))), 0);
    EXPECT_EQ(handshake_status(build(with("Upgrade", "h2c, websocket"))), 0);
    EXPECT_EQ(handshake_status(build(with("Upgrade", ",websocket ,"))), 0);
    EXPECT_EQ(handshake_status(build(plus(with("Upgrade", "h2c"), "Upgrade", "websocket"))), 0);
}

TEST(UpgradeRequest, ConnectionHeader) {
    EXPECT_EQ(handshake_status(build(with("Connection", nullptr))), 400);
    EXPECT_EQ(handshake_status(build(with("Connection", "keep-alive"))), 400);
    EXPECT_EQ(handshake_status(build(with("Connection", "Upgraded"))), 400);
    EXPECT_EQ(handshake_status(build(with("Connection", "keep-alive, Upgrade"))), 0);
    EXPECT_EQ(handshake_status(build(with("Connection", "upgrade"))), 0);
    EXPECT_EQ(handshake_status(build(with("Connection", "Upgrade,keep-alive"))), 0);
    EXPECT_EQ(handshake_status(build(with("Connection", "close,\tUPGRADE\t, te"))), 0);
    EXPECT_EQ(
        handshake_status(build(plus(with("Connection", "keep-alive"), "Connection", "Upgrade"))),
        0);
}

TEST(UpgradeRequest, Key) {
    EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Key", nullptr))), 400);
    EXPECT_EQ(handshake_status(
                  build(plus(kValidHeaders, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))),
              400);
    for (const char* bad :
         {"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===", "AdGhlIHNhbXBsZSBub25jZQ==",
          "dGhlIHNhbXBsZSBub25jZQAA", "dGhlIHNhbXBsZSBub25jZ===", "dGhlIHNhbXBsZSBub25jZ*==",
          "dGhlIHNhbXBsZSBub25jZ-==", "dGhlIHNhbXBsZS_ub25jZQ==", "dGhlIHNhbXB sZSBub25jZQ==",
          "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="}) {
        EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Key", bad))), 400) << bad;
    }
    EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Key", "+/+/+/+/+/+/+/+/+/+/+w=="))), 0);
    EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="))), 0);
}

TEST(UpgradeRequest, Version) {
    for (const char* bad : {"8", "14", "12", "013", "13, 8", "", "thirteen"}) {
        EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Version", bad))), 426) << bad;
    }
    EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Version", nullptr))), 426);
    EXPECT_EQ(handshake_status(build(plus(kValidHeaders, "Sec-WebSocket-Version", "13"))), 426);
    // Checked before the key, so an old client whose key we would not accept
    // still learns the supported version.
    EXPECT_EQ(handshake_status(build(with("Sec-WebSocket-Key", "x"))), 400);
    Headers old_client = with("Sec-WebSocket-Key", "x");
    for (auto& [name, value] : old_client) {
        if (name == "Sec-WebSocket-Version") value = "8";
    }
    EXPECT_EQ(handshake_status(build(old_client)), 426);
}

TEST(UpgradeRequest, MalformedExtensionsDoNotFailTheHandshake) {
    auto p = parse_guarded(build(plus(kValidHeaders, "Sec-WebSocket-Extensions", "a;;b")));
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    UpgradeRequest up;
    EXPECT_EQ(validate_upgrade(p.request, up).status, 0);
    EXPECT_EQ(up.extensions.count, 0u);
}

// Parses `values` as Sec-WebSocket-Extensions lines of one request.
struct OfferParse {
    test::GuardedParse parsed;
    ExtensionOffers offers;
    bool ok = false;
};

OfferParse offers_of(const std::vector<std::string>& values) {
    Headers h = kValidHeaders;
    for (const auto& v : values)
        h.push_back({"Sec-WebSocket-Extensions", v});
    OfferParse r;
    r.parsed = parse_guarded(build(h));
    EXPECT_EQ(r.parsed.result.status, ParseStatus::complete);
    r.ok = parse_extension_offers(r.parsed.request, r.offers);
    return r;
}

TEST(ExtensionOffers, ParsesParamsAndQuotedValues) {
    auto r =
        offers_of({"permessage-deflate; client_max_window_bits=10 ;server_no_context_takeover,"
                   " permessage-deflate;client_max_window_bits=\"15\", x-webkit-deflate-frame"});
    ASSERT_TRUE(r.ok);
    ASSERT_EQ(r.offers.count, 3u);
    const ExtensionOffer& a = r.offers.offers[0];
    EXPECT_EQ(a.name, "permessage-deflate");
    ASSERT_EQ(a.param_count, 2u);
    EXPECT_EQ(a.params[0].name, "client_max_window_bits");
    EXPECT_TRUE(a.params[0].has_value);
    EXPECT_EQ(a.params[0].value, "10");
    EXPECT_EQ(a.params[1].name, "server_no_context_takeover");
    EXPECT_FALSE(a.params[1].has_value);
    const ExtensionOffer& b = r.offers.offers[1];
    ASSERT_EQ(b.param_count, 1u);
    EXPECT_EQ(b.params[0].value, "15");
    EXPECT_TRUE(b.params[0].has_value);
    EXPECT_EQ(r.offers.offers[2].name, "x-webkit-deflate-frame");
    EXPECT_EQ(r.offers.offers[2].param_count, 0u);
}

TEST(ExtensionOffers, CombinesHeaderLinesInOrder) {
    auto r = offers_of({"first; a=1", "second, third;b", "fourth"});
    ASSERT_TRUE(r.ok);
    ASSERT_EQ(r.offers.count, 4u);
    EXPECT_EQ(r.offers.offers[0].name, "first");
    EXPECT_EQ(r.offers.offers[1].name, "second");
    EXPECT_EQ(r.offers.offers[2].name, "third");
    EXPECT_EQ(r.offers.offers[2].params[0].name, "b");
    EXPECT_EQ(r.offers.offers[3].name, "fourth");
}

TEST(ExtensionOffers, NoHeaderMeansNoOffers) {
    auto r = offers_of({});
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.offers.count, 0u);
    auto empty = offers_of({"", " , ,"});
    EXPECT_TRUE(empty.ok);
    EXPECT_EQ(empty.offers.count, 0u);
}

TEST(ExtensionOffers, RejectsMalformedSyntax) {
    for (const char* bad : {";", "a;", "a; ", "a;;b", "a;=1", "a; b=", "a; b= ;c", "a; b=\"x",
                            "a; b=\"x\\y\"", "a; b=\"\"", "a; b=\"x y\"", "a b", "a;b c",
                            "a; b=1 2", "a=1", "\"a\"", "a/b", "a; b=(c)", "a; b=\"1\"x"}) {
        auto r = offers_of({bad});
        EXPECT_FALSE(r.ok) << bad;
    }
}

TEST(ExtensionOffers, Limits) {
    std::string eight, nine;
    for (int i = 0; i < 8; ++i)
        eight += (i ? ", e" : "e") + std::to_string(i);
    nine = eight + ", e8";
    auto r8 = offers_of({eight});
    EXPECT_TRUE(r8.ok);
    EXPECT_EQ(r8.offers.count, 8u);
    EXPECT_FALSE(offers_of({nine}).ok);
    EXPECT_FALSE(offers_of({eight, "more"}).ok);

    std::string params8 = "e", params9;
    for (int i = 0; i < 8; ++i)
        params8 += "; p" + std::to_string(i) + "=" + std::to_string(i);
    params9 = params8 + "; p8";
    auto p8 = offers_of({params8});
    ASSERT_TRUE(p8.ok);
    EXPECT_EQ(p8.offers.offers[0].param_count, 8u);
    EXPECT_EQ(p8.offers.offers[0].params[7].value, "7");
    EXPECT_FALSE(offers_of({params9}).ok);
}

}  // namespace
}  // namespace wsgate::proto
