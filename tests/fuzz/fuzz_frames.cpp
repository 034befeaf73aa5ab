// libFuzzer target for FrameDecoder. Input layout:
//   byte 0        config: bit 0 rsv1_allowed, bit 1 a small max_message_bytes
//   byte 1        k = number of chunk-size bytes (mod 32)
//   bytes 2..2+k  chunk sizes for the split feed (0 allowed: an empty feed)
//   rest          the client byte stream
// The stream is decoded twice, whole and split; invariants:
//   consumed ≤ len; nothing is delivered after an error or a close;
//   delivered payload lies inside the fed buffer and totals ≤ bytes fed;
//   uncompressed text delivered is a valid UTF-8 prefix;
//   both runs reach the same verdict and the same events (on an error, the
//   split run may have delivered more of the failing frame's valid prefix).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/frame_decoder.hpp"
#include "proto/utf8.hpp"

namespace {

using wsgate::proto::CloseCode;
using wsgate::proto::DataFrame;
using wsgate::proto::DecodeResult;
using wsgate::proto::FrameDecoder;
using wsgate::proto::FrameDecoderConfig;
using wsgate::proto::Opcode;
using wsgate::proto::Utf8Validator;

constexpr uint8_t kRsv1AllowedFlag = 0x01;
constexpr uint8_t kSmallLimitFlag = 0x02;
constexpr uint64_t kSmallLimit = 300;
constexpr size_t kMaxChunkSizes = 32;

void check(bool ok) {
    if (!ok) std::abort();
}

struct Recorder {
    std::string events;   // structure, payload bytes excluded
    std::string payload;  // every delivered data payload byte
    bool in_payload = false;
    bool stopped = false;  // an error or close was returned
    const uint8_t* feed_begin = nullptr;
    const uint8_t* feed_end = nullptr;
    bool validate_text = false;
    Utf8Validator utf8;

    void event(const std::string& e) {
        check(!stopped);
        in_payload = false;
        events += e;
        events += '\n';
    }
    void on_frame_begin(const DataFrame& f) {
        if (f.first) {
            validate_text = f.message_opcode == Opcode::text && !f.rsv1;
            utf8.reset();
        }
        event("begin " + std::to_string(static_cast<int>(f.message_opcode)) + (f.first ? "F" : "") +
              (f.fin ? "N" : "") + (f.rsv1 ? "R" : "") + std::to_string(f.payload_length));
    }
    void on_frame_payload(std::span<uint8_t> chunk) {
        check(!stopped);
        check(!chunk.empty());
        check(chunk.data() >= feed_begin && chunk.data() + chunk.size() <= feed_end);
        if (validate_text) check(utf8.feed(chunk.data(), chunk.size()));
        if (!in_payload) events += "data\n";
        in_payload = true;
        payload.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    }
    void on_frame_end(bool message_end) {
        if (message_end && validate_text) check(utf8.at_boundary());
        event(message_end ? "end M" : "end F");
    }
    void on_ping(std::span<const uint8_t> p) {
        check(p.size() <= 125);
        event("ping " + std::string(reinterpret_cast<const char*>(p.data()), p.size()));
    }
    void on_pong(std::span<const uint8_t> p) {
        check(p.size() <= 125);
        event("pong " + std::string(reinterpret_cast<const char*>(p.data()), p.size()));
    }
    void on_close(uint16_t code, std::string_view reason) {
        check(code == 1005 || wsgate::proto::is_valid_wire_close_code(code));
        check(wsgate::proto::utf8_valid(reinterpret_cast<const uint8_t*>(reason.data()),
                                        reason.size()));
        event("close " + std::to_string(code) + " " + std::string(reason));
    }
};

struct Run {
    Recorder rec;
    CloseCode error = CloseCode::none;
    bool closed = false;
    size_t consumed = 0;
};

void feed(FrameDecoder& decoder, std::vector<uint8_t>& stream, size_t& pos, size_t n, Run& run) {
    uint8_t* data = stream.data() + pos;
    pos += n;
    run.rec.feed_begin = data;
    run.rec.feed_end = data + n;
    size_t payload_before = run.rec.payload.size();
    DecodeResult r = decoder.feed(data, n, run.rec);
    check(r.consumed <= n);
    check(run.rec.payload.size() - payload_before <= r.consumed);
    if (run.rec.stopped) {
        // After an error or a close: the same verdict, nothing consumed.
        check(r.consumed == 0 && r.error == run.error && r.closed == run.closed);
        return;
    }
    run.consumed += r.consumed;
    if (r.error != CloseCode::none || r.closed) {
        check(!(r.error != CloseCode::none && r.closed));
        run.error = r.error;
        run.closed = r.closed;
        run.rec.stopped = true;
    } else {
        check(r.consumed == n);
    }
}

void decode(std::vector<uint8_t> stream, const uint8_t* sizes, size_t size_count,
            const FrameDecoderConfig& config, Run& run) {
    FrameDecoder decoder(config);
    size_t pos = 0;
    for (size_t i = 0; i < size_count; ++i) {
        feed(decoder, stream, pos, std::min<size_t>(sizes[i], stream.size() - pos), run);
    }
    feed(decoder, stream, pos, stream.size() - pos, run);
    check(run.rec.payload.size() <= run.consumed);
}

// The event log without the payload markers.
std::string without_data(const std::string& events) {
    std::string out;
    size_t start = 0;
    while (start < events.size()) {
        size_t end = events.find('\n', start);
        std::string_view line(events.data() + start, end - start);
        if (line != "data") out.append(events, start, end - start + 1);
        start = end + 1;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    FrameDecoderConfig config;
    config.rsv1_allowed = (data[0] & kRsv1AllowedFlag) != 0;
    if ((data[0] & kSmallLimitFlag) != 0) config.max_message_bytes = kSmallLimit;
    size_t size_count = std::min<size_t>(data[1] % kMaxChunkSizes, size - 2);
    const uint8_t* sizes = data + 2;
    std::vector<uint8_t> stream(data + 2 + size_count, data + size);

    Run whole;
    decode(stream, nullptr, 0, config, whole);
    Run split;
    decode(stream, sizes, size_count, config, split);

    check(whole.error == split.error);
    check(whole.closed == split.closed);
    if (whole.error == CloseCode::none) {
        check(whole.rec.events == split.rec.events);
        check(whole.rec.payload == split.rec.payload);
        check(whole.consumed == split.consumed);
    } else {
        // Fail fast: the whole buffer's failing chunk is not delivered, while
        // the split run may have delivered the valid start of it.
        check(without_data(whole.rec.events) == without_data(split.rec.events));
        check(split.rec.payload.compare(0, whole.rec.payload.size(), whole.rec.payload) == 0);
    }
    return 0;
}
