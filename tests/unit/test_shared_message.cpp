// One message for many connections: the plain frame once, the compressed
// frame once per server window among no-context-takeover agreements, and
// the compressed bytes inflate back to the message (RFC 7692 §7.2.2).
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "proto/deflate_negotiation.hpp"
#include "proto/frame_writer.hpp"
#include "ws/compression_state.hpp"
#include "ws/loop_compression.hpp"
#include "ws/shared_message.hpp"

using wsgate::io::SharedBytes;
using wsgate::proto::DeflateAgreement;
using wsgate::proto::Opcode;
using wsgate::ws::CompressionSlot;
using wsgate::ws::LoopCompression;
using wsgate::ws::SharedMessage;

namespace {

wsgate::proto::DeflateConfig config() {
    wsgate::proto::DeflateConfig c;
    c.enabled = true;
    c.server_no_context_takeover = true;
    c.client_no_context_takeover = true;
    c.min_message_bytes = 64;
    return c;
}

CompressionSlot slot(bool no_takeover, uint8_t server_bits) {
    DeflateAgreement a;
    a.server_no_context_takeover = no_takeover;
    a.client_no_context_takeover = true;
    a.server_max_window_bits = server_bits;
    a.client_max_window_bits = 15;
    CompressionSlot s;
    s.set_agreement(a);
    return s;
}

// The payload of a single unmasked server frame (header parsed by hand).
std::string payload_of(SharedBytes& f, bool* rsv1) {
    const uint8_t* p = f.data();
    *rsv1 = (p[0] & 0x40) != 0;
    size_t len = p[1] & 0x7f;
    size_t at = 2;
    if (len == 126) {
        len = (size_t{p[2]} << 8) | p[3];
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i)
            len = (len << 8) | p[2 + i];
        at = 10;
    }
    EXPECT_EQ(at + len, f.size());
    return std::string(reinterpret_cast<const char*>(p + at), len);
}

std::string inflate_raw(std::string in) {
    in.append("\x00\x00\xff\xff", 4);  // RFC 7692 §7.2.2
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, -15), Z_OK);
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    inflate(&z, Z_SYNC_FLUSH);
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

std::string text(size_t n) {
    std::string s;
    while (s.size() < n)
        s += "{\"push\":{\"channel\":\"news\",\"pub\":{\"data\":{\"n\":42}}}} ";
    s.resize(n);
    return s;
}

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST(SharedMessage, CompressesOncePerServerWindowAndInflatesBack) {
    LoopCompression compression(config(), 1 << 20);
    std::string message = text(4000);
    SharedMessage m(Opcode::text, bytes(message));
    CompressionSlot a = slot(true, 15), b = slot(true, 15), c = slot(true, 10);
    SharedBytes& fa = m.frame_for(a, compression);
    SharedBytes& fb = m.frame_for(b, compression);
    EXPECT_EQ(&fa, &fb);  // the same bytes, by reference
    EXPECT_EQ(compression.shared_compressions(), 1u);
    SharedBytes& fc = m.frame_for(c, compression);
    EXPECT_NE(&fa, &fc);  // a smaller window is another agreement
    EXPECT_EQ(compression.shared_compressions(), 2u);
    for (SharedBytes* f : {&fa, &fc}) {
        bool rsv1 = false;
        std::string payload = payload_of(*f, &rsv1);
        EXPECT_TRUE(rsv1);
        EXPECT_LT(payload.size(), message.size() / 4);
        EXPECT_EQ(inflate_raw(payload), message);
    }
}

TEST(SharedMessage, PlainForContextTakeoverUnnegotiatedAndSmallMessages) {
    LoopCompression compression(config(), 1 << 20);
    std::string message = text(4000);
    SharedMessage m(Opcode::text, bytes(message));
    CompressionSlot none;
    CompressionSlot takeover = slot(false, 15);
    SharedBytes& plain = m.frame_for(none, compression);
    EXPECT_EQ(&m.frame_for(takeover, compression), &plain);
    bool rsv1 = true;
    EXPECT_EQ(payload_of(plain, &rsv1), message);
    EXPECT_FALSE(rsv1);
    EXPECT_EQ(compression.shared_compressions(), 0u);

    std::string small = text(40);  // under min_message_bytes
    SharedMessage s(Opcode::text, bytes(small));
    CompressionSlot a = slot(true, 15);
    EXPECT_EQ(payload_of(s.frame_for(a, compression), &rsv1), small);
    EXPECT_FALSE(rsv1);
}

TEST(SharedMessage, IncompressibleMessageGoesPlain) {
    LoopCompression compression(config(), 1 << 20);
    std::string noise(2000, '\0');
    uint32_t x = 12345;
    for (char& ch : noise) {
        x = x * 1103515245 + 12345;
        ch = static_cast<char>(x >> 24);
    }
    SharedMessage m(Opcode::binary, bytes(noise));
    CompressionSlot a = slot(true, 15);
    bool rsv1 = true;
    EXPECT_EQ(payload_of(m.frame_for(a, compression), &rsv1), noise);
    EXPECT_FALSE(rsv1);
}
