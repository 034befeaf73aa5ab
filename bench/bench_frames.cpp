// FrameDecoder throughput on a buffer of back-to-back masked client frames
// (16 B, 1 KiB, 64 KiB payloads; binary and text) beside memcpy of the same
// buffer, in one run. Names: Frames_memcpy/<payload>, Frames_binary/<payload>,
// Frames_text/<payload>. Bytes processed count the whole wire stream.
//
// The decoder unmasks in place, so a buffer decoded twice would hold
// different bytes the second time. Text frames therefore use the all-zero
// masking key (the XOR kernel does the same work for any key) so that the
// payload stays valid UTF-8 across iterations; binary frames use a real key.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "proto/frame_decoder.hpp"

namespace wsgate::proto {
namespace {

// Enough frames that each iteration walks ~256 KiB, not just one cache line.
constexpr size_t kStreamBytes = 256 * 1024;
constexpr int64_t kPayloadSizes[] = {16, 1024, 64 * 1024};
constexpr uint8_t kFinText = 0x81;
constexpr uint8_t kFinBinary = 0x82;
constexpr uint8_t kMaskBit = 0x80;

struct CountingHandler {
    uint64_t payload_bytes = 0;
    uint64_t control_frames = 0;
    void on_frame_begin(const DataFrame&) {}
    void on_frame_payload(std::span<uint8_t> chunk) { payload_bytes += chunk.size(); }
    void on_frame_end(bool) {}
    void on_ping(std::span<const uint8_t>) { ++control_frames; }
    void on_pong(std::span<const uint8_t>) { ++control_frames; }
    void on_close(uint16_t, std::string_view) { ++control_frames; }
};

// Mostly ASCII with a 2-, 3- and 4-byte code point every 64 bytes, like chat text.
std::vector<uint8_t> text_payload(size_t len) {
    static constexpr std::string_view kPattern =
        "The quick brown fox jumps over the lazy dog, caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 "
        "ok.";
    std::vector<uint8_t> out;
    while (out.size() < len)
        out.insert(out.end(), kPattern.begin(), kPattern.end());
    out.resize(len);
    // Do not end inside a code point.
    while ((out.back() & 0x80) != 0)
        out.back() = '.';
    return out;
}

std::vector<uint8_t> frame_stream(uint8_t first_byte, size_t payload_len, bool text) {
    const uint8_t key[4] = {text ? uint8_t{0} : uint8_t{0x37}, text ? uint8_t{0} : uint8_t{0xfa},
                            text ? uint8_t{0} : uint8_t{0x21}, text ? uint8_t{0} : uint8_t{0x3d}};
    std::vector<uint8_t> payload = text_payload(payload_len);
    std::vector<uint8_t> stream;
    do {
        stream.push_back(first_byte);
        if (payload_len <= 125) {
            stream.push_back(static_cast<uint8_t>(kMaskBit | payload_len));
        } else if (payload_len <= 0xFFFF) {
            stream.push_back(kMaskBit | 126);
            stream.push_back(static_cast<uint8_t>(payload_len >> 8));
            stream.push_back(static_cast<uint8_t>(payload_len));
        } else {
            stream.push_back(kMaskBit | 127);
            for (int i = 7; i >= 0; --i)
                stream.push_back(static_cast<uint8_t>(payload_len >> (8 * i)));
        }
        stream.insert(stream.end(), key, key + 4);
        for (size_t i = 0; i < payload_len; ++i)
            stream.push_back(payload[i] ^ key[i % 4]);
    } while (stream.size() < kStreamBytes);
    return stream;
}

void decode_stream(benchmark::State& state, bool text) {
    size_t payload_len = static_cast<size_t>(state.range(0));
    std::vector<uint8_t> stream = frame_stream(text ? kFinText : kFinBinary, payload_len, text);
    FrameDecoder decoder;
    CountingHandler handler;
    for (auto _ : state) {
        decoder.reset();
        DecodeResult r = decoder.feed(stream.data(), stream.size(), handler);
        if (r.error != CloseCode::none || r.consumed != stream.size()) {
            state.SkipWithError("decode failed");
            break;
        }
        benchmark::DoNotOptimize(handler.payload_bytes);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}

void Frames_memcpy(benchmark::State& state) {
    std::vector<uint8_t> src = frame_stream(kFinBinary, static_cast<size_t>(state.range(0)), false);
    std::vector<uint8_t> dst(src.size());
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), src.size());
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * src.size()));
}

void Frames_binary(benchmark::State& state) {
    decode_stream(state, false);
}
void Frames_text(benchmark::State& state) {
    decode_stream(state, true);
}

void payload_sizes(benchmark::internal::Benchmark* b) {
    for (int64_t size : kPayloadSizes)
        b->Arg(size);
}

BENCHMARK(Frames_memcpy)->Apply(payload_sizes);
BENCHMARK(Frames_binary)->Apply(payload_sizes);
BENCHMARK(Frames_text)->Apply(payload_sizes);

}  // namespace
}  // namespace wsgate::proto
