#include "echo_reader.hpp"

#include <cstring>

namespace wsgate::bench {
namespace {

constexpr std::size_t kMaxControlPayload = 125;  // RFC 6455 §5.5

}  // namespace

void EchoReader::enable_inflate(const proto::InflaterSettings& settings,
                                std::span<std::uint8_t> scratch) {
    inflate_ = std::make_unique<Inflate>(Inflate{proto::MessageInflater(settings), scratch});
    frames_.allow_compressed(true);
}

EchoReader::Status EchoReader::next(std::span<const std::uint8_t> data, std::size_t& used,
                                    const Expected& expect) {
    used = 0;
    while (true) {
        std::size_t n = 0;
        std::span<const std::uint8_t> payload;
        const FrameReader::Status st = frames_.next(data.subspan(used), n, payload);
        used += n;
        Status r = Status::kNeedMore;
        switch (st) {
            case FrameReader::Status::kNeedMore:
                return Status::kNeedMore;
            case FrameReader::Status::kProtocolError:
                return Status::kProtocol;
            case FrameReader::Status::kHeader:
                r = on_header(expect);
                break;
            case FrameReader::Status::kPayload:
                r = on_payload(payload, expect);
                break;
        }
        if (r == Status::kNeedMore && frames_.at_frame_end()) r = on_frame_end(expect);
        if (r != Status::kNeedMore) return r;
    }
}

// Checks a frame header against what may come (RFC 6455 §5.4, §5.5).
EchoReader::Status EchoReader::on_header(const Expected& expect) {
    const auto& h = frames_.header();
    if (h.opcode >= kOpClose) {
        if (h.opcode > kOpPong || !h.fin || h.length > kMaxControlPayload) return Status::kProtocol;
        control_frame_ = true;
        control_opcode_ = h.opcode;
        control_in_.clear();
        return Status::kNeedMore;
    }
    control_frame_ = false;
    if (h.opcode == kOpContinuation) {
        if (!in_message_) return Status::kProtocol;
    } else if (h.opcode == kOpText || h.opcode == kOpBinary) {
        if (in_message_) return Status::kProtocol;
        if (expect.bytes == nullptr || h.opcode != expect.opcode) return Status::kMismatch;
        in_message_ = true;
        compressed_ = h.compressed;
        verified_ = 0;
        wire_bytes_ = 0;
    } else {
        return Status::kProtocol;
    }
    // Uncompressed, the frames' lengths must add up to the message; compressed,
    // the inflater's size limit catches an echo that grows too long.
    if (!compressed_ && verified_ + h.length > expect.length) return Status::kMismatch;
    return Status::kNeedMore;
}

EchoReader::Status EchoReader::verify(std::span<const std::uint8_t> plain, const Expected& expect) {
    if (plain.size() > expect.length - verified_ ||
        std::memcmp(plain.data(), expect.bytes + verified_, plain.size()) != 0)
        return Status::kMismatch;
    verified_ += static_cast<std::uint32_t>(plain.size());
    return Status::kNeedMore;
}

EchoReader::Status EchoReader::on_payload(std::span<const std::uint8_t> payload,
                                          const Expected& expect) {
    if (control_frame_) {
        control_in_.append(reinterpret_cast<const char*>(payload.data()), payload.size());
        return Status::kNeedMore;
    }
    wire_bytes_ += payload.size();
    if (!compressed_) return verify(payload, expect);
    while (!payload.empty()) {
        const proto::InflateResult r = inflate_->inflater.inflate(payload, inflate_->scratch);
        if (verify({inflate_->scratch.data(), r.produced}, expect) != Status::kNeedMore)
            return Status::kMismatch;
        if (r.status == proto::InflateStatus::too_big) return Status::kMismatch;
        if (r.status != proto::InflateStatus::ok) return Status::kBadDeflate;
        payload = payload.subspan(r.consumed);
    }
    return Status::kNeedMore;
}

EchoReader::Status EchoReader::on_frame_end(const Expected& expect) {
    const auto& h = frames_.header();
    if (control_frame_) return Status::kControl;
    if (!h.fin) return Status::kNeedMore;
    in_message_ = false;
    if (compressed_) {
        while (true) {
            const proto::InflateResult r = inflate_->inflater.finish(inflate_->scratch);
            if (verify({inflate_->scratch.data(), r.produced}, expect) != Status::kNeedMore)
                return Status::kMismatch;
            if (r.status == proto::InflateStatus::done) break;
            if (r.status == proto::InflateStatus::too_big) return Status::kMismatch;
            if (r.status != proto::InflateStatus::ok) return Status::kBadDeflate;
        }
    }
    return verified_ == expect.length ? Status::kMessage : Status::kMismatch;
}

}  // namespace wsgate::bench
