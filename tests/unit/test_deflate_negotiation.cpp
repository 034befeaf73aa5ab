// permessage-deflate negotiation (RFC 7692 §5, §7.1).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "proto/deflate_negotiation.hpp"
#include "proto/extension_offer.hpp"
#include "proto/http_request.hpp"

namespace wsgate::proto {
namespace {

DeflateConfig enabled_config() {
    DeflateConfig c;
    c.enabled = true;
    return c;
}

struct Outcome {
    DeflateNegotiation n;
    std::string response;
};

Outcome negotiate(std::string_view header, const DeflateConfig& config,
                  size_t cap = kMaxDeflateResponseLength) {
    ExtensionOffers offers;
    EXPECT_TRUE(parse_extension_list(header, offers)) << header;
    std::string buf(cap, '\xAA');
    Outcome o;
    o.n = negotiate_permessage_deflate(offers, config, buf.data(), cap);
    if (o.n.accepted) o.response.assign(buf.data(), o.n.response_length);
    // Nothing is written past the reported length.
    for (size_t i = o.n.response_length; i < cap; ++i)
        EXPECT_EQ(buf[i], '\xAA') << "byte " << i;
    return o;
}

TEST(DeflateNegotiation, ChromiumOfferAccepted) {
    Outcome o = negotiate("permessage-deflate; client_max_window_bits", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate");
    EXPECT_EQ(o.n.offer_index, 0u);
    EXPECT_FALSE(o.n.agreed.server_no_context_takeover);
    EXPECT_FALSE(o.n.agreed.client_no_context_takeover);
    EXPECT_EQ(o.n.agreed.server_max_window_bits, 15);
    EXPECT_EQ(o.n.agreed.client_max_window_bits, 15);
}

TEST(DeflateNegotiation, RealChromiumRequest) {
    std::ifstream f(std::string(WSGATE_TEST_DATA) + "/chromium-156-upgrade-request.bin",
                    std::ios::binary);
    ASSERT_TRUE(f);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    HttpRequest req;
    HttpParseResult r = parse_http_request(bytes.data(), bytes.size(), 0, req);
    ASSERT_EQ(r.status, ParseStatus::complete);
    ExtensionOffers offers;
    ASSERT_TRUE(parse_extension_offers(req, offers));
    DeflateConfig config = enabled_config();
    config.server_no_context_takeover = true;
    config.client_max_window_bits = 12;
    char out[kMaxDeflateResponseLength];
    DeflateNegotiation n = negotiate_permessage_deflate(offers, config, out, sizeof(out));
    ASSERT_TRUE(n.accepted);
    EXPECT_EQ(std::string_view(out, n.response_length),
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
    EXPECT_TRUE(n.agreed.server_no_context_takeover);
    EXPECT_EQ(n.agreed.client_max_window_bits, 12);
}

TEST(DeflateNegotiation, PlainOfferAccepted) {
    Outcome o = negotiate("permessage-deflate", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate");
}

TEST(DeflateNegotiation, DisabledOrInvalidConfigAcceptsNothing) {
    DeflateConfig off;
    EXPECT_FALSE(negotiate("permessage-deflate", off).n.accepted);
    DeflateConfig bad = enabled_config();
    bad.server_max_window_bits = 16;
    EXPECT_FALSE(valid_deflate_config(bad));
    EXPECT_FALSE(negotiate("permessage-deflate", bad).n.accepted);
    bad = enabled_config();
    bad.client_max_window_bits = 7;
    EXPECT_FALSE(negotiate("permessage-deflate; client_max_window_bits", bad).n.accepted);
    bad = enabled_config();
    bad.mem_level = 0;
    EXPECT_FALSE(negotiate("permessage-deflate", bad).n.accepted);
    bad = enabled_config();
    bad.level = 10;
    EXPECT_FALSE(negotiate("permessage-deflate", bad).n.accepted);
    EXPECT_TRUE(valid_deflate_config(enabled_config()));
}

TEST(DeflateNegotiation, NoPermessageDeflateOffer) {
    EXPECT_FALSE(negotiate("x-webkit-deflate-frame", enabled_config()).n.accepted);
    EXPECT_FALSE(negotiate("", enabled_config()).n.accepted);
}

TEST(DeflateNegotiation, ServerNoContextTakeover) {
    Outcome o = negotiate("permessage-deflate; server_no_context_takeover", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_no_context_takeover");
    EXPECT_TRUE(o.n.agreed.server_no_context_takeover);
    // The server may announce it even when not offered (§7.1.1.1).
    DeflateConfig c = enabled_config();
    c.server_no_context_takeover = true;
    o = negotiate("permessage-deflate", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_no_context_takeover");
}

TEST(DeflateNegotiation, ClientNoContextTakeover) {
    // Offered as a hint; echoed so that it binds and the inflater can drop
    // its window between messages.
    Outcome o = negotiate("permessage-deflate; client_no_context_takeover", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; client_no_context_takeover");
    EXPECT_TRUE(o.n.agreed.client_no_context_takeover);
    DeflateConfig c = enabled_config();
    c.client_no_context_takeover = true;
    o = negotiate("permessage-deflate", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; client_no_context_takeover");
    EXPECT_FALSE(o.n.agreed.server_no_context_takeover);
}

TEST(DeflateNegotiation, ServerMaxWindowBitsOffered) {
    Outcome o = negotiate("permessage-deflate; server_max_window_bits=10", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=10");
    EXPECT_EQ(o.n.agreed.server_max_window_bits, 10);
    // An offered 15 must still be answered (§7.1.2.1).
    o = negotiate("permessage-deflate; server_max_window_bits=15", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=15");
    // The server may go below the offer, never above it.
    DeflateConfig c = enabled_config();
    c.server_max_window_bits = 11;
    o = negotiate("permessage-deflate; server_max_window_bits=13", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=11");
    o = negotiate("permessage-deflate; server_max_window_bits=9", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=9");
    // Quoted value (RFC 6455 §9.1 allows quoted-string).
    o = negotiate("permessage-deflate; server_max_window_bits=\"12\"", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.n.agreed.server_max_window_bits, 12);
}

TEST(DeflateNegotiation, ServerWindowFromConfigAnnounced) {
    DeflateConfig c = enabled_config();
    c.server_max_window_bits = 12;
    Outcome o = negotiate("permessage-deflate", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=12");
    // zlib cannot deflate raw with 8 bits: it runs, and is announced, as 9.
    c.server_max_window_bits = 8;
    o = negotiate("permessage-deflate", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=9");
    EXPECT_EQ(deflater_settings(o.n.agreed, c).window_bits, 9);
}

TEST(DeflateNegotiation, ServerWindow8OfferedIsDeclined) {
    Outcome o = negotiate(
        "permessage-deflate; server_max_window_bits=8, permessage-deflate; "
        "server_max_window_bits=9",
        enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.n.offer_index, 1u);
    EXPECT_EQ(o.response, "permessage-deflate; server_max_window_bits=9");
}

TEST(DeflateNegotiation, ClientMaxWindowBits) {
    // Offered with a value: the client limits itself; echo it so it binds.
    Outcome o = negotiate("permessage-deflate; client_max_window_bits=10", enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; client_max_window_bits=10");
    EXPECT_EQ(o.n.agreed.client_max_window_bits, 10);
    // The server's limit applies when lower.
    DeflateConfig c = enabled_config();
    c.client_max_window_bits = 9;
    o = negotiate("permessage-deflate; client_max_window_bits=10", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; client_max_window_bits=9");
    c.client_max_window_bits = 8;
    o = negotiate("permessage-deflate; client_max_window_bits", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, "permessage-deflate; client_max_window_bits=8");
    // zlib inflates it with 9 bits (a superset window).
    EXPECT_EQ(inflater_settings(o.n.agreed, DeflateConfig{}, 1000).window_bits, 8);
}

TEST(DeflateNegotiation, ClientLimitNeedsOfferedParameter) {
    DeflateConfig c = enabled_config();
    c.client_max_window_bits = 10;
    EXPECT_FALSE(negotiate("permessage-deflate", c).n.accepted);
    Outcome o = negotiate("permessage-deflate, permessage-deflate; client_max_window_bits", c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.n.offer_index, 1u);
    EXPECT_EQ(o.response, "permessage-deflate; client_max_window_bits=10");
}

TEST(DeflateNegotiation, BadOffersDeclinedNextTaken) {
    const char* bad[] = {
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=-9",
        "permessage-deflate; server_max_window_bits=150",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; Server_Max_Window_Bits=10; server_max_window_bits=11",
        "permessage-deflate; unknown_param",
        "permessage-deflate; x=1",
        "permessage-deflate; max_window_bits=10",
    };
    for (const char* offer : bad) {
        SCOPED_TRACE(offer);
        ExtensionOffers parsed;
        if (!parse_extension_list(offer, parsed)) continue;  // e.g. empty quoted string
        EXPECT_FALSE(negotiate(offer, enabled_config()).n.accepted);
        std::string both = std::string(offer) + ", permessage-deflate; client_no_context_takeover";
        Outcome o = negotiate(both, enabled_config());
        ASSERT_TRUE(o.n.accepted);
        EXPECT_EQ(o.n.offer_index, 1u);
        EXPECT_EQ(o.response, "permessage-deflate; client_no_context_takeover");
    }
}

TEST(DeflateNegotiation, SeveralOffersFirstAcceptableWins) {
    Outcome o = negotiate(
        "x-webkit-deflate-frame, permessage-deflate; bogus, "
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11, "
        "permessage-deflate",
        enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.n.offer_index, 2u);
    EXPECT_EQ(o.response,
              "permessage-deflate; server_no_context_takeover; server_max_window_bits=11");
}

TEST(DeflateNegotiation, NamesCaseInsensitive) {
    Outcome o =
        negotiate("PerMessage-Deflate; Client_Max_Window_Bits=11; SERVER_NO_CONTEXT_TAKEOVER",
                  enabled_config());
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response,
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=11");
}

TEST(DeflateNegotiation, EverythingFitsAndSmallCapDeclines) {
    DeflateConfig c = enabled_config();
    c.server_no_context_takeover = c.client_no_context_takeover = true;
    c.server_max_window_bits = 10;
    c.client_max_window_bits = 11;
    const std::string expected =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11";
    const char* offer = "permessage-deflate; client_max_window_bits";
    Outcome o = negotiate(offer, c);
    ASSERT_TRUE(o.n.accepted);
    EXPECT_EQ(o.response, expected);
    EXPECT_LE(expected.size(), kMaxDeflateResponseLength);
    EXPECT_TRUE(negotiate(offer, c, expected.size()).n.accepted);
    EXPECT_FALSE(negotiate(offer, c, expected.size() - 1).n.accepted);
}

TEST(DeflateNegotiation, SettingsFromAgreement) {
    DeflateConfig c = enabled_config();
    c.level = 3;
    c.mem_level = 5;
    c.max_inflate_ratio = 77;
    DeflateAgreement a;
    a.server_no_context_takeover = true;
    a.client_no_context_takeover = false;
    a.server_max_window_bits = 11;
    a.client_max_window_bits = 13;
    DeflaterSettings d = deflater_settings(a, c);
    EXPECT_EQ(d.window_bits, 11);
    EXPECT_EQ(d.mem_level, 5);
    EXPECT_EQ(d.level, 3);
    EXPECT_TRUE(d.no_context_takeover);
    InflaterSettings i = inflater_settings(a, c, 4096);
    EXPECT_EQ(i.window_bits, 13);
    EXPECT_FALSE(i.no_context_takeover);
    EXPECT_EQ(i.max_message_bytes, 4096u);
    EXPECT_EQ(i.max_compressed_bytes, 4096u);  // one limit, as sent and as inflated
    EXPECT_EQ(i.max_ratio, 77u);
}

}  // namespace
}  // namespace wsgate::proto
