#include "proto/frame_writer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace wsgate::proto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes header_bytes(Opcode opcode, bool fin, bool rsv1, uint64_t length) {
    uint8_t out[kMaxServerFrameHeader + 1];
    out[kMaxServerFrameHeader] = 0xEE;  // sentinel: never written
    size_t n = write_frame_header(out, opcode, fin, rsv1, length);
    EXPECT_EQ(out[kMaxServerFrameHeader], 0xEE);
    return Bytes(out, out + n);
}

Bytes frame_with_payload(Opcode opcode, bool fin, std::string_view payload) {
    Bytes frame = header_bytes(opcode, fin, false, payload.size());
    frame.insert(frame.end(), payload.begin(), payload.end());
    return frame;
}

Bytes close_frame(uint16_t code, std::string_view reason) {
    uint8_t out[kMaxServerControlFrame];
    size_t n = write_close_frame(out, code, reason);
    EXPECT_LE(n, kMaxServerControlFrame);
    return Bytes(out, out + n);
}

std::span<const uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// RFC 6455 §5.7: a single-frame unmasked text message.
TEST(FrameWriter, Rfc6455SingleFrameUnmaskedHello) {
    EXPECT_EQ(frame_with_payload(Opcode::text, true, "Hello"),
              (Bytes{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

// RFC 6455 §5.7: a fragmented unmasked text message.
TEST(FrameWriter, Rfc6455FragmentedUnmaskedHello) {
    EXPECT_EQ(frame_with_payload(Opcode::text, false, "Hel"),
              (Bytes{0x01, 0x03, 0x48, 0x65, 0x6c}));
    EXPECT_EQ(frame_with_payload(Opcode::continuation, true, "lo"),
              (Bytes{0x80, 0x02, 0x6c, 0x6f}));
}

// RFC 6455 §5.7: unmasked ping.
TEST(FrameWriter, Rfc6455UnmaskedPing) {
    uint8_t out[kMaxServerControlFrame];
    size_t n = write_control_frame(out, Opcode::ping, as_bytes("Hello"));
    EXPECT_EQ(Bytes(out, out + n), (Bytes{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(FrameWriter, UnmaskedPong) {
    uint8_t out[kMaxServerControlFrame];
    size_t n = write_control_frame(out, Opcode::pong, as_bytes("Hello"));
    EXPECT_EQ(Bytes(out, out + n), (Bytes{0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

// RFC 6455 §5.7: 256 bytes binary in a single unmasked frame.
TEST(FrameWriter, Rfc6455SixteenBitLength) {
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 256), (Bytes{0x82, 0x7E, 0x01, 0x00}));
}

// RFC 6455 §5.7: 64 KiB binary in a single unmasked frame.
TEST(FrameWriter, Rfc6455SixtyFourBitLength) {
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 65536),
              (Bytes{0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
}

TEST(FrameWriter, MinimalLengthEncodingAtEveryBoundary) {
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 0), (Bytes{0x82, 0x00}));
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 125), (Bytes{0x82, 125}));
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 126), (Bytes{0x82, 126, 0x00, 126}));
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 65535), (Bytes{0x82, 126, 0xFF, 0xFF}));
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, (uint64_t{1} << 63) - 1),
              (Bytes{0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
    EXPECT_EQ(header_bytes(Opcode::binary, true, false, 0x0102030405060708),
              (Bytes{0x82, 127, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(FrameWriter, FinAndRsv1BitsAndNoMask) {
    EXPECT_EQ(header_bytes(Opcode::text, false, false, 1), (Bytes{0x01, 0x01}));
    EXPECT_EQ(header_bytes(Opcode::text, true, true, 1), (Bytes{0xC1, 0x01}));
    EXPECT_EQ(header_bytes(Opcode::continuation, false, false, 1), (Bytes{0x00, 0x01}));
    for (uint64_t len : {uint64_t{0}, uint64_t{200}, uint64_t{1} << 40}) {
        EXPECT_EQ(header_bytes(Opcode::binary, true, false, len)[1] & 0x80, 0) << len;
    }
}

TEST(FrameWriter, CloseFrameWithCodeAndReason) {
    EXPECT_EQ(close_frame(1000, "bye"), (Bytes{0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
    EXPECT_EQ(close_frame(1002, ""), (Bytes{0x88, 0x02, 0x03, 0xEA}));
    EXPECT_EQ(close_frame(4999, "x"), (Bytes{0x88, 0x03, 0x13, 0x87, 'x'}));
}

TEST(FrameWriter, CloseFrameCodeZeroHasEmptyPayload) {
    EXPECT_EQ(close_frame(0, "ignored"), (Bytes{0x88, 0x00}));
}

TEST(FrameWriter, CloseReasonCutTo123Bytes) {
    std::string reason(200, 'r');
    Bytes frame = close_frame(1001, reason);
    ASSERT_EQ(frame.size(), 2u + 125u);
    EXPECT_EQ(frame[1], 125);
    EXPECT_EQ(std::string(frame.begin() + 4, frame.end()), std::string(123, 'r'));

    Bytes exact = close_frame(1001, std::string(123, 'q'));
    EXPECT_EQ(exact.size(), 2u + 125u);
}

TEST(FrameWriter, CloseReasonCutOnACodePointBoundary) {
    // "é" (C3 A9) would straddle byte 123: dropped whole.
    std::string two = std::string(122, 'a') + "\xC3\xA9" + "tail";
    Bytes frame = close_frame(1000, two);
    EXPECT_EQ(frame[1], 2 + 122);
    EXPECT_EQ(std::string(frame.begin() + 4, frame.end()), std::string(122, 'a'));

    // "€" (E2 82 AC) at 121..123.
    std::string three = std::string(121, 'a') + "\xE2\x82\xAC";
    frame = close_frame(1000, three);
    EXPECT_EQ(frame[1], 2 + 121);

    // "𝄞" (F0 9D 84 9E) ending exactly at byte 123 fits.
    std::string four = std::string(119, 'a') + "\xF0\x9D\x84\x9E" + "more";
    frame = close_frame(1000, four);
    EXPECT_EQ(frame[1], 2 + 123);
    EXPECT_EQ(std::string(frame.end() - 4, frame.end()), "\xF0\x9D\x84\x9E");
}

TEST(FrameWriter, ControlPayloadCutTo125) {
    std::string big(300, 'p');
    uint8_t out[kMaxServerControlFrame];
    size_t n = write_control_frame(out, Opcode::ping, as_bytes(big));
    EXPECT_EQ(n, 2u + 125u);
    EXPECT_EQ(out[1], 125);
}

TEST(FrameWriter, EmptyControlFrame) {
    uint8_t out[kMaxServerControlFrame];
    EXPECT_EQ(write_control_frame(out, Opcode::ping, {}), 2u);
    EXPECT_EQ(out[0], 0x89);
    EXPECT_EQ(out[1], 0x00);
}

}  // namespace
}  // namespace wsgate::proto
