// What a live upgrade carries of a proxy pairing (proxy/pairing_state.hpp):
// read back as written, and anything else refused rather than misread.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/pairing_state.hpp"

using wsgate::proxy::append_pairing_state;
using wsgate::proxy::kMaxPairingName;
using wsgate::proxy::kMaxPairingStateBytes;
using wsgate::proxy::PairingState;
using wsgate::proxy::read_pairing_state;
using wsgate::proxy::Relay;

namespace {

std::vector<uint8_t> written(const PairingState& s) {
    std::vector<uint8_t> out = {0xAA};  // appended after what is there
    append_pairing_state(s, out);
    out.erase(out.begin());
    return out;
}

TEST(PairingState, RoundTrip) {
    PairingState s;
    s.relay = Relay::frames;
    s.ping_due_ms = 12345;
    s.pool = "chat";
    s.server = "[::1]:9001";
    std::vector<uint8_t> bytes = written(s);
    PairingState back;
    ASSERT_TRUE(read_pairing_state(bytes, &back));
    EXPECT_EQ(back.relay, Relay::frames);
    EXPECT_EQ(back.ping_due_ms, 12345u);
    EXPECT_EQ(back.pool, "chat");
    EXPECT_EQ(back.server, "[::1]:9001");
    EXPECT_LE(bytes.size(), kMaxPairingStateBytes);
}

TEST(PairingState, UncountedHasNoNames) {
    PairingState s;  // tunnel, no server
    PairingState back;
    ASSERT_TRUE(read_pairing_state(written(s), &back));
    EXPECT_EQ(back.relay, Relay::tunnel);
    EXPECT_TRUE(back.pool.empty());
    EXPECT_TRUE(back.server.empty());
}

TEST(PairingState, OverlongNamesAreNotCarried) {
    std::string name(kMaxPairingName + 1, 'x');
    PairingState s;
    s.pool = name;
    s.server = "127.0.0.1:1";
    std::vector<uint8_t> bytes = written(s);
    EXPECT_LE(bytes.size(), kMaxPairingStateBytes);
    PairingState back;
    ASSERT_TRUE(read_pairing_state(bytes, &back));
    EXPECT_TRUE(back.pool.empty());  // moves uncounted rather than misnamed
    EXPECT_TRUE(back.server.empty());
}

TEST(PairingState, RefusesWhatIsNotOne) {
    PairingState s;
    s.pool = "p";
    s.server = "127.0.0.1:2";
    const std::vector<uint8_t> good = written(s);
    PairingState back;
    for (size_t cut = 0; cut < good.size(); ++cut) {  // truncated anywhere
        EXPECT_FALSE(read_pairing_state({good.data(), cut}, &back)) << cut;
    }
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    EXPECT_FALSE(read_pairing_state(longer, &back));
    std::vector<uint8_t> version = good;
    version[0] = 2;
    EXPECT_FALSE(read_pairing_state(version, &back));
    std::vector<uint8_t> relay = good;
    relay[1] = 7;
    EXPECT_FALSE(read_pairing_state(relay, &back));
}

}  // namespace
