#include "proto/centrifugo_channel.hpp"

#include <gtest/gtest.h>

#include <string>

#include "proto/centrifugo_codes.hpp"

namespace wsgate::proto::centrifugo {
namespace {

TEST(CentrifugoChannel, NamesTheSdkUses) {
    EXPECT_EQ(check_channel("chat"), ChannelCheck::ok);
    EXPECT_EQ(check_channel("news:sport"), ChannelCheck::ok);
    EXPECT_EQ(check_channel("dialog#42,43"), ChannelCheck::ok);
    EXPECT_EQ(check_channel("a-b_c.d/e*f&g!~"), ChannelCheck::ok);
}

TEST(CentrifugoChannel, LengthLimit) {
    EXPECT_EQ(check_channel(""), ChannelCheck::empty);
    EXPECT_EQ(check_channel(std::string(255, 'a')), ChannelCheck::ok);
    EXPECT_EQ(check_channel(std::string(256, 'a')), ChannelCheck::too_long);
    EXPECT_EQ(channel_error(ChannelCheck::too_long), ErrorCode::bad_request);
}

TEST(CentrifugoChannel, OnlyPrintableAscii) {
    for (int b = 0; b < 256; ++b) {
        std::string name = "ab";
        name[1] = static_cast<char>(b);
        bool printable = b >= 0x21 && b <= 0x7E;
        ChannelCheck expected = printable ? ChannelCheck::ok : ChannelCheck::not_ascii;
        EXPECT_EQ(check_channel(name), expected) << b;
    }
    EXPECT_EQ(check_channel("caf\xc3\xa9"), ChannelCheck::not_ascii);
    EXPECT_EQ(channel_error(ChannelCheck::not_ascii), ErrorCode::bad_request);
}

TEST(CentrifugoChannel, PrivateChannelsNeedATokenThisServerDoesNotIssue) {
    EXPECT_EQ(check_channel("$secret"), ChannelCheck::private_channel);
    EXPECT_EQ(check_channel("ns:$secret"), ChannelCheck::ok);  // only the prefix is special
    EXPECT_EQ(channel_error(ChannelCheck::private_channel), ErrorCode::permission_denied);
}

TEST(CentrifugoChannel, SplitNamespaceAndUsers) {
    ChannelParts p = split_channel("chat:room#42,43");
    EXPECT_EQ(p.name_space, "chat");
    EXPECT_TRUE(p.user_limited);
    EXPECT_EQ(p.users, "42,43");
    p = split_channel("plain");
    EXPECT_EQ(p.name_space, "");
    EXPECT_FALSE(p.user_limited);
    p = split_channel("a:b:c");
    EXPECT_EQ(p.name_space, "a");
    p = split_channel("x#");
    EXPECT_TRUE(p.user_limited);
    EXPECT_EQ(p.users, "");
}

TEST(CentrifugoChannel, UserListed) {
    EXPECT_TRUE(user_listed("42,43", "42"));
    EXPECT_TRUE(user_listed("42,43", "43"));
    EXPECT_FALSE(user_listed("42,43", "4"));
    EXPECT_FALSE(user_listed("42,43", "42,43"));
    EXPECT_FALSE(user_listed("42", ""));
    EXPECT_FALSE(user_listed("", ""));
    EXPECT_TRUE(user_listed("7", "7"));
}

TEST(CentrifugoCodes, ErrorMessagesAndTemporaryFlags) {
    EXPECT_EQ(error_info(ErrorCode::internal).message, "internal server error");
    EXPECT_TRUE(error_info(ErrorCode::internal).temporary);
    EXPECT_TRUE(error_info(ErrorCode::too_many_requests).temporary);
    EXPECT_EQ(error_info(ErrorCode::method_not_found).message, "method not found");
    EXPECT_EQ(error_info(ErrorCode::not_available).message, "not available");
    EXPECT_EQ(error_info(ErrorCode::token_expired).message, "token expired");
    EXPECT_FALSE(error_info(ErrorCode::token_expired).temporary);
    int temporary = 0;
    for (int c = 100; c <= 113; ++c) {
        ErrorInfo info = error_info(static_cast<ErrorCode>(c));
        EXPECT_FALSE(info.message.empty()) << c;
        temporary += info.temporary ? 1 : 0;
    }
    EXPECT_EQ(temporary, 2);
}

TEST(CentrifugoCodes, DisconnectReasonsFitACloseFrame) {
    const DisconnectCode codes[] = {
        DisconnectCode::connection_closed,    DisconnectCode::shutdown,
        DisconnectCode::server_error,         DisconnectCode::expired,
        DisconnectCode::subscription_expired, DisconnectCode::slow,
        DisconnectCode::write_error,          DisconnectCode::insufficient_state,
        DisconnectCode::force_reconnect,      DisconnectCode::no_pong,
        DisconnectCode::too_many_requests,    DisconnectCode::invalid_token,
        DisconnectCode::bad_request,          DisconnectCode::stale,
        DisconnectCode::force_no_reconnect,   DisconnectCode::connection_limit,
        DisconnectCode::channel_limit,        DisconnectCode::inappropriate_protocol,
        DisconnectCode::permission_denied,    DisconnectCode::not_available,
        DisconnectCode::too_many_errors,
    };
    for (DisconnectCode c : codes) {
        std::string_view reason = disconnect_reason(c);
        EXPECT_FALSE(reason.empty());
        EXPECT_LE(reason.size(), 123u);  // RFC 6455 §5.5: 125 minus the 2-byte code
    }
    EXPECT_EQ(disconnect_reason(DisconnectCode::bad_request), "bad request");
    EXPECT_EQ(disconnect_reason(DisconnectCode::slow), "slow");
    EXPECT_EQ(disconnect_reason(DisconnectCode::invalid_token), "invalid token");
    EXPECT_EQ(disconnect_reason(DisconnectCode::no_pong), "no pong");
}

TEST(CentrifugoCodes, ReconnectRuleOfTheSdk) {
    EXPECT_TRUE(disconnect_reconnects(3000));
    EXPECT_TRUE(disconnect_reconnects(static_cast<uint16_t>(DisconnectCode::slow)));
    EXPECT_TRUE(disconnect_reconnects(static_cast<uint16_t>(DisconnectCode::no_pong)));
    EXPECT_TRUE(disconnect_reconnects(3499));
    EXPECT_FALSE(disconnect_reconnects(3500));
    EXPECT_FALSE(disconnect_reconnects(static_cast<uint16_t>(DisconnectCode::bad_request)));
    EXPECT_FALSE(disconnect_reconnects(3999));
    EXPECT_TRUE(disconnect_reconnects(4000));
    EXPECT_TRUE(disconnect_reconnects(4499));
    EXPECT_FALSE(disconnect_reconnects(4500));
    EXPECT_FALSE(disconnect_reconnects(4999));
    EXPECT_TRUE(disconnect_reconnects(5000));
}

TEST(CentrifugoCodes, UnsubscribeReasons) {
    EXPECT_EQ(unsubscribe_reason(UnsubscribeCode::server), "server unsubscribe");
    EXPECT_EQ(unsubscribe_reason(UnsubscribeCode::insufficient_state), "insufficient state");
    EXPECT_EQ(static_cast<uint16_t>(UnsubscribeCode::insufficient_state), 2500);
}

}  // namespace
}  // namespace wsgate::proto::centrifugo
