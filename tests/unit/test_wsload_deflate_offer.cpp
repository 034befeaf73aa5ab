// wsload's permessage-deflate offer and its check of the server's answer
// (RFC 7692 §7), including a round trip through the server's own negotiation.
#include <gtest/gtest.h>

#include <string>

#include "deflate_client.hpp"
#include "proto/deflate_negotiation.hpp"
#include "proto/extension_offer.hpp"

using namespace wsgate::bench;
using wsgate::proto::DeflateAgreement;

TEST(WsloadDeflateOffer, OfferValue) {
    DeflateOffer o;
    EXPECT_EQ(deflate_offer_value(o), "permessage-deflate; client_max_window_bits");
    o.server_no_context_takeover = o.client_no_context_takeover = true;
    o.client_max_window_bits = 12;
    o.server_max_window_bits = 10;
    EXPECT_EQ(deflate_offer_value(o),
              "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10; "
              "server_no_context_takeover; client_no_context_takeover");
}

TEST(WsloadDeflateOffer, ParsesParams) {
    DeflateOffer o;
    ASSERT_TRUE(parse_deflate_params("", o));
    EXPECT_FALSE(o.server_no_context_takeover || o.client_no_context_takeover);
    ASSERT_TRUE(parse_deflate_params("server_no_context_takeover;client_no_context_takeover", o));
    EXPECT_TRUE(o.server_no_context_takeover && o.client_no_context_takeover);
    ASSERT_TRUE(parse_deflate_params("Client_Max_Window_Bits=9 ; server_max_window_bits=15", o));
    EXPECT_EQ(o.client_max_window_bits, 9);
    EXPECT_EQ(o.server_max_window_bits, 15);
    EXPECT_FALSE(o.server_no_context_takeover);  // replaced, not merged
}

TEST(WsloadDeflateOffer, RejectsBadParams) {
    for (const char* bad :
         {"x_unknown", "server_no_context_takeover; server_no_context_takeover",
          "server_no_context_takeover=1", "client_max_window_bits", "server_max_window_bits=7",
          "server_max_window_bits=16", "client_max_window_bits=08", "client_max_window_bits=1a",
          "server_no_context_takeover,", ";;"}) {
        DeflateOffer o;
        o.client_max_window_bits = 11;
        EXPECT_FALSE(parse_deflate_params(bad, o)) << bad;
        EXPECT_EQ(o.client_max_window_bits, 11) << "untouched after " << bad;
    }
}

TEST(WsloadDeflateAnswer, NoneWhenDeclined) {
    DeflateOffer offer;
    DeflateAgreement agreed;
    EXPECT_EQ(check_deflate_answer("", &offer, agreed), DeflateAnswer::kNone);
    EXPECT_EQ(check_deflate_answer("", nullptr, agreed), DeflateAnswer::kNone);
}

TEST(WsloadDeflateAnswer, AcceptedAnswers) {
    DeflateOffer offer;
    DeflateAgreement a;
    ASSERT_EQ(check_deflate_answer("permessage-deflate", &offer, a), DeflateAnswer::kAccepted);
    EXPECT_EQ(a.client_max_window_bits, 15);
    EXPECT_EQ(a.server_max_window_bits, 15);
    EXPECT_FALSE(a.server_no_context_takeover || a.client_no_context_takeover);

    ASSERT_EQ(check_deflate_answer("PerMessage-Deflate; client_max_window_bits=10; "
                                   "server_max_window_bits=12; server_no_context_takeover; "
                                   "client_no_context_takeover",
                                   &offer, a),
              DeflateAnswer::kAccepted);
    EXPECT_EQ(a.client_max_window_bits, 10);
    EXPECT_EQ(a.server_max_window_bits, 12);
    EXPECT_TRUE(a.server_no_context_takeover && a.client_no_context_takeover);

    // Quoted values are tokens too (RFC 6455 §9.1).
    ASSERT_EQ(check_deflate_answer("permessage-deflate; client_max_window_bits=\"9\"", &offer, a),
              DeflateAnswer::kAccepted);
    EXPECT_EQ(a.client_max_window_bits, 9);

    // The client's own hint and window stand when the server does not repeat them.
    DeflateOffer hinted;
    hinted.client_no_context_takeover = true;
    hinted.client_max_window_bits = 11;
    ASSERT_EQ(check_deflate_answer("permessage-deflate", &hinted, a), DeflateAnswer::kAccepted);
    EXPECT_TRUE(a.client_no_context_takeover);
    EXPECT_EQ(a.client_max_window_bits, 11);
}

TEST(WsloadDeflateAnswer, InvalidAnswers) {
    DeflateOffer offer;
    DeflateAgreement a;
    a.client_max_window_bits = 13;
    for (const char* bad : {
             "x-webkit-deflate-frame",                  // not offered
             "permessage-deflate, permessage-deflate",  // two elements
             "permessage-deflate, x-other",             // an extra extension
             "permessage-deflate; x=1",                 // unknown parameter
             "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
             "permessage-deflate; client_no_context_takeover=1",      // value on a flag
             "permessage-deflate; server_no_context_takeover=\"x\"",  // ditto, quoted
             "permessage-deflate; client_max_window_bits",            // value required
             "permessage-deflate; server_max_window_bits",            // value required
             "permessage-deflate; client_max_window_bits=7",
             "permessage-deflate; client_max_window_bits=16",
             "permessage-deflate; server_max_window_bits=010",  // leading zero
             "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
             "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
             "permessage-deflate;",  // syntax
             "permessage-deflate; =1",
         }) {
        EXPECT_EQ(check_deflate_answer(bad, &offer, a), DeflateAnswer::kInvalid) << bad;
    }
    EXPECT_EQ(a.client_max_window_bits, 13) << "agreement untouched when invalid";
    // Nothing offered: any extension at all fails the connection (RFC 6455 §4.1).
    EXPECT_EQ(check_deflate_answer("permessage-deflate", nullptr, a), DeflateAnswer::kInvalid);
}

TEST(WsloadDeflateAnswer, MustHonourWhatWasOffered) {
    DeflateAgreement a;
    DeflateOffer snct;
    snct.server_no_context_takeover = true;  // §7.1.1.1: accepted only by repeating it
    EXPECT_EQ(check_deflate_answer("permessage-deflate", &snct, a), DeflateAnswer::kInvalid);
    EXPECT_EQ(check_deflate_answer("permessage-deflate; server_no_context_takeover", &snct, a),
              DeflateAnswer::kAccepted);

    DeflateOffer smwb;
    smwb.server_max_window_bits = 10;  // §7.1.2.1: repeated with the same or a smaller value
    EXPECT_EQ(check_deflate_answer("permessage-deflate", &smwb, a), DeflateAnswer::kInvalid);
    EXPECT_EQ(check_deflate_answer("permessage-deflate; server_max_window_bits=11", &smwb, a),
              DeflateAnswer::kInvalid);
    ASSERT_EQ(check_deflate_answer("permessage-deflate; server_max_window_bits=9", &smwb, a),
              DeflateAnswer::kAccepted);
    EXPECT_EQ(a.server_max_window_bits, 9);

    DeflateOffer cmwb;
    cmwb.client_max_window_bits = 10;  // §7.1.2.2: the server may only lower it
    EXPECT_EQ(check_deflate_answer("permessage-deflate; client_max_window_bits=11", &cmwb, a),
              DeflateAnswer::kInvalid);
    ASSERT_EQ(check_deflate_answer("permessage-deflate; client_max_window_bits=10", &cmwb, a),
              DeflateAnswer::kAccepted);
    EXPECT_EQ(a.client_max_window_bits, 10);
}

// wsload's offers put through wsgate's own negotiation: the answer the server
// writes must pass wsload's check with the same agreement.
TEST(WsloadDeflateAnswer, AgreesWithServerNegotiation) {
    using wsgate::proto::DeflateConfig;
    std::vector<DeflateConfig> configs;
    DeflateConfig c;
    c.enabled = true;
    configs.push_back(c);
    c.server_no_context_takeover = c.client_no_context_takeover = true;
    configs.push_back(c);
    c = DeflateConfig{};
    c.enabled = true;
    c.server_max_window_bits = 10;
    c.client_max_window_bits = 9;
    configs.push_back(c);
    for (const char* params : {"", "server_no_context_takeover; client_no_context_takeover",
                               "server_max_window_bits=12", "client_max_window_bits=11"}) {
        DeflateOffer offer;
        ASSERT_TRUE(parse_deflate_params(params, offer));
        const std::string value = deflate_offer_value(offer);
        wsgate::proto::ExtensionOffers offers;
        ASSERT_TRUE(wsgate::proto::parse_extension_list(value, offers));
        for (const auto& config : configs) {
            char out[wsgate::proto::kMaxDeflateResponseLength];
            const auto n =
                wsgate::proto::negotiate_permessage_deflate(offers, config, out, sizeof out);
            if (!n.accepted) continue;
            DeflateAgreement mine;
            ASSERT_EQ(check_deflate_answer(std::string_view(out, n.response_length), &offer, mine),
                      DeflateAnswer::kAccepted)
                << value << " -> " << std::string_view(out, n.response_length);
            EXPECT_EQ(mine.server_no_context_takeover, n.agreed.server_no_context_takeover);
            EXPECT_EQ(mine.server_max_window_bits, n.agreed.server_max_window_bits);
            EXPECT_EQ(mine.client_max_window_bits, n.agreed.client_max_window_bits);
            EXPECT_EQ(mine.client_no_context_takeover,
                      n.agreed.client_no_context_takeover || offer.client_no_context_takeover);
        }
    }
}
