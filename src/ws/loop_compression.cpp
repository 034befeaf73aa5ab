#include "ws/loop_compression.hpp"

#include <algorithm>
#include <cstring>

#include "proto/frame_writer.hpp"

namespace wsgate::ws {

LoopCompression::LoopCompression(const proto::DeflateConfig& config, uint64_t max_message_bytes,
                                 uint64_t max_streams)
    : config_(config), max_message_bytes_(max_message_bytes), max_streams_(max_streams) {}

LoopCompression::~LoopCompression() = default;

std::string_view LoopCompression::negotiate(const proto::ExtensionOffers& offers,
                                            CompressionSlot& slot) {
    slot.clear();
    if (!config_.enabled || offers.count == 0) return {};
    proto::DeflateNegotiation n =
        proto::negotiate_permessage_deflate(offers, config_, response_, sizeof(response_));
    if (!n.accepted) return {};
    slot.set_agreement(n.agreed);
    return {response_, n.response_length};
}

CompressionState* LoopCompression::state_for(CompressionSlot& slot) {
    if (CompressionState* s = slot.state()) return s;
    const proto::DeflateAgreement agreed = slot.agreement();
    std::unique_ptr<CompressionState> s;
    if (!spares_.empty()) {
        s = std::move(spares_.back());
        spares_.pop_back();
    } else {
        s = std::make_unique<CompressionState>();
    }
    s->agreed = agreed;
    s->deflater = proto::MessageDeflater(proto::deflater_settings(agreed, config_));
    s->inflater =
        proto::MessageInflater(proto::inflater_settings(agreed, config_, max_message_bytes_));
    s->receiving = s->validate_utf8 = s->sending = s->send_failed = false;
    s->inflate_stream_counted = s->deflate_stream_counted = false;
    CompressionState* raw = s.release();
    slot.set_state(raw);
    return raw;
}

void LoopCompression::count_stream(bool& counted, bool holds) {
    if (counted == holds) return;
    counted = holds;
    if (holds) {
        ++stats_.streams_in_use;
        stats_.peak_streams = std::max(stats_.peak_streams, stats_.streams_in_use);
    } else {
        --stats_.streams_in_use;
    }
}

void LoopCompression::recount(CompressionState& s) {
    count_stream(s.inflate_stream_counted, s.inflater.holds_stream());
    count_stream(s.deflate_stream_counted, s.deflater.holds_stream());
}

void LoopCompression::park(CompressionSlot& slot) {
    CompressionState* s = slot.state();
    if (s == nullptr) return;
    recount(*s);
    if (!s->parkable()) return;
    slot.set_agreement(s->agreed);
    std::unique_ptr<CompressionState> owned(s);
    if (spares_.size() < kMaxSpareCompressionStates) spares_.push_back(std::move(owned));
}

void LoopCompression::release(CompressionSlot& slot) {
    if (CompressionState* s = slot.state()) {
        s->deflater.release();
        s->inflater.release();
        s->receiving = s->sending = s->send_failed = false;
        park(slot);  // now always parkable
    }
    slot.clear();
}

InflateFailure LoopCompression::begin_incoming(CompressionSlot& slot, proto::Opcode opcode) {
    const CompressionState* held = slot.state();
    if ((held == nullptr || !held->inflater.holds_stream()) && budget_spent()) {
        ++stats_.refused_no_stream;
        return {proto::CloseCode::try_again_later, "compression busy, try again later"};
    }
    CompressionState* s = state_for(slot);
    // Taken now, while the budget was checked, not at the first chunk.
    const bool reserved = s->inflater.reserve_stream();
    recount(*s);
    if (!reserved) {
        park(slot);
        return {proto::CloseCode::internal_error, "decompression failed"};
    }
    s->receiving = true;
    s->validate_utf8 = opcode == proto::Opcode::text;
    s->utf8.reset();
    in_fill_ = 0;
    return {};
}

InflateFailure LoopCompression::fail_incoming(CompressionSlot& slot, proto::InflateStatus status) {
    CompressionState& s = *slot.state();
    s.inflater.release();
    recount(s);
    s.receiving = false;
    s.validate_utf8 = false;
    in_fill_ = 0;
    switch (status) {
        case proto::InflateStatus::too_big:
            ++stats_.refused_too_big;
            return {proto::CloseCode::message_too_big, "message too big"};
        // Valid DEFLATE that costs too much for its size: refused by
        // policy (RFC 6455 §7.4.1), not as corrupt data.
        case proto::InflateStatus::over_ratio:
            ++stats_.refused_ratio;
            return {proto::CloseCode::policy_violation, "compression ratio over limit"};
        case proto::InflateStatus::no_output:
            ++stats_.refused_padding;
            return {proto::CloseCode::policy_violation, "compressed data without output"};
        case proto::InflateStatus::invalid_data:
            // Corrupt DEFLATE data or invalid UTF-8 after inflating: data not
            // consistent with the message type (RFC 6455 §7.4.1).
            return {proto::CloseCode::invalid_payload, "invalid compressed data"};
        default:
            return {proto::CloseCode::internal_error, "decompression failed"};
    }
}

void LoopCompression::emit_frame(io::OutQueue& queue, io::ChunkPool& pool, bool& in_message,
                                 proto::Opcode opcode, size_t fill, bool fin) {
    uint8_t header[proto::kMaxServerFrameHeader];
    const bool first = !in_message;
    // RFC 7692 §6.1: RSV1 on the first frame of a compressed message only.
    size_t n = proto::write_frame_header(header, first ? opcode : proto::Opcode::continuation, fin,
                                         first, fill);
    queue.append(pool, header, n);
    queue.append(pool, scratch_out_, fill);
    in_message = !fin;
}

bool LoopCompression::send_piece(CompressionSlot& slot, io::OutQueue& queue, io::ChunkPool& pool,
                                 bool& in_message, proto::Opcode opcode,
                                 std::span<const uint8_t> piece, bool last) {
    if (!slot.negotiated()) return false;
    CompressionState* s = slot.state();
    // A compressed message may have emitted no frame yet (zlib holds its
    // output back), so `sending`, not in_message, tells whether one is open.
    if (s == nullptr || !s->sending) {
        if (in_message) return false;  // a message that started plain stays plain
        if (last && piece.size() < config_.min_message_bytes) return false;
        if ((s == nullptr || !s->deflater.holds_stream()) && budget_spent()) {
            ++stats_.plain_no_stream;
            return false;
        }
        s = state_for(slot);
        s->sending = true;
    }
    size_t fill = 0;
    auto room = [&] {
        return std::span<uint8_t>(scratch_out_ + fill, sizeof(scratch_out_) - fill);
    };
    auto fail = [&] {
        s->deflater.release();
        recount(*s);
        s->sending = false;
        s->send_failed = true;
        return true;  // nothing more is sent on this message
    };
    while (!piece.empty()) {
        if (room().size() < proto::kMinDeflateOutput) {
            emit_frame(queue, pool, in_message, opcode, fill, false);
            fill = 0;
        }
        proto::DeflateResult r = s->deflater.compress(piece, room());
        if (r.status == proto::DeflateStatus::error) return fail();
        fill += r.produced;
        piece = piece.subspan(r.consumed);
    }
    recount(*s);  // the first piece of a message may have taken a stream
    if (!last) {
        if (fill > 0) emit_frame(queue, pool, in_message, opcode, fill, false);
        return true;
    }
    for (;;) {
        if (room().size() < proto::kMinDeflateOutput) {
            emit_frame(queue, pool, in_message, opcode, fill, false);
            fill = 0;
        }
        proto::DeflateResult r = s->deflater.finish(room());
        if (r.status == proto::DeflateStatus::error) return fail();
        fill += r.produced;
        if (r.status == proto::DeflateStatus::done) break;
    }
    emit_frame(queue, pool, in_message, opcode, fill, true);
    s->sending = false;
    park(slot);
    return true;
}

io::SharedBytesRef LoopCompression::compressed_frame(const proto::DeflateAgreement& agreed,
                                                     proto::Opcode opcode,
                                                     std::span<const uint8_t> payload) {
    if (payload.size() < config_.min_message_bytes || !agreed.server_no_context_takeover) return {};
    // A deflater of its own each time: with no context takeover it borrows a
    // zlib stream from the thread's pool for this message only.
    proto::MessageDeflater deflater(proto::deflater_settings(agreed, config_));
    shared_out_.resize(proto::kMaxServerFrameHeader + proto::deflate_output_bound(payload.size()));
    const size_t plain = payload.size();
    size_t fill = proto::kMaxServerFrameHeader;
    auto room = [&] {
        return std::span<uint8_t>(shared_out_.data() + fill, shared_out_.size() - fill);
    };
    while (!payload.empty()) {
        proto::DeflateResult r = deflater.compress(payload, room());
        if (r.status == proto::DeflateStatus::error) return {};
        fill += r.produced;
        payload = payload.subspan(r.consumed);
    }
    for (;;) {
        proto::DeflateResult r = deflater.finish(room());
        if (r.status == proto::DeflateStatus::error) return {};
        fill += r.produced;
        if (r.status == proto::DeflateStatus::done) break;
    }
    size_t compressed = fill - proto::kMaxServerFrameHeader;
    if (compressed >= plain) return {};
    uint8_t header[proto::kMaxServerFrameHeader];
    size_t n = proto::write_frame_header(header, opcode, true, true, compressed);
    io::SharedBytesRef frame(io::SharedBytes::create(n + compressed));
    std::memcpy(frame->data(), header, n);
    std::memcpy(frame->data() + n, shared_out_.data() + proto::kMaxServerFrameHeader, compressed);
    ++shared_compressions_;
    return frame;
}

}  // namespace wsgate::ws
