#include "proto/message_deflater.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "proto/zstream_pool.hpp"

namespace wsgate::proto {

namespace {

// RFC 7692 §7.2.1: a Z_SYNC_FLUSH ends in an empty stored block whose last
// four bytes are these; the sender removes them, the receiver appends them.
constexpr uint8_t kSyncTrailer[4] = {0x00, 0x00, 0xff, 0xff};

// zlib's manual: give a Z_SYNC_FLUSH more than 6 bytes of output or it may
// emit the flush marker again on the next call (3 header bits, up to 7 bits
// of padding, LEN and NLEN).
constexpr size_t kMarkerRoom = 8;

static_assert(kMinDeflateOutput >= sizeof(kSyncTrailer) + kMarkerRoom);

ZStreamParams stream_params(const DeflaterSettings& s) {
    ZStreamParams p;
    p.kind = ZStreamKind::deflate;
    p.window_bits = std::max(s.window_bits, kMinZlibWindowBits);
    p.mem_level = s.mem_level;
    p.level = s.level;
    return p;
}

bool zlib_ok(int rc) {
    // Z_BUF_ERROR only means "no progress possible": not an error here.
    return rc == Z_OK || rc == Z_BUF_ERROR;
}

}  // namespace

MessageDeflater::MessageDeflater(const DeflaterSettings& settings) : settings_(settings) {}

MessageDeflater::~MessageDeflater() {
    release();
}

MessageDeflater::MessageDeflater(MessageDeflater&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)),
      settings_(other.settings_),
      phase_(std::exchange(other.phase_, Phase::idle)),
      held_count_(std::exchange(other.held_count_, 0)) {
    std::memcpy(held_, other.held_, sizeof(held_));
}

MessageDeflater& MessageDeflater::operator=(MessageDeflater&& other) noexcept {
    if (this != &other) {
        release();
        stream_ = std::exchange(other.stream_, nullptr);
        settings_ = other.settings_;
        phase_ = std::exchange(other.phase_, Phase::idle);
        held_count_ = std::exchange(other.held_count_, 0);
        std::memcpy(held_, other.held_, sizeof(held_));
    }
    return *this;
}

size_t MessageDeflater::memory_bytes() const {
    return stream_ ? stream_->bytes() : 0;
}

void MessageDeflater::release() {
    if (stream_ != nullptr) {
        // Only a message abandoned midway leaves a pooled stream here; the
        // pool's reset discards its half-built block.
        give_back_zstream(stream_, settings_.no_context_takeover);
        stream_ = nullptr;
    }
    phase_ = Phase::idle;
    held_count_ = 0;
}

bool MessageDeflater::begin_message() {
    if (stream_ == nullptr) {
        // Lazy: a connection that never sends a compressed message never
        // pays for a deflate stream (~256 KiB at window 15, memLevel 8).
        stream_ = obtain_zstream(stream_params(settings_), settings_.no_context_takeover);
        if (stream_ == nullptr) return false;
    }
    phase_ = Phase::compressing;
    held_count_ = 0;
    return true;
}

void MessageDeflater::end_message() {
    phase_ = Phase::idle;
    held_count_ = 0;
    if (settings_.no_context_takeover) {
        // The next message must not refer to this one (RFC 7692 §7.1.1.1);
        // the pool resets the stream.
        release_pooled_zstream(stream_);
        stream_ = nullptr;
    }
}

DeflateResult MessageDeflater::compress(std::span<const uint8_t> in, std::span<uint8_t> out) {
    DeflateResult result;
    if (phase_ == Phase::idle && !begin_message()) {
        result.status = DeflateStatus::error;
        return result;
    }
    if (phase_ != Phase::compressing || out.size() < kMinDeflateOutput) {
        result.status = DeflateStatus::error;  // compress() after finish() began: caller bug
        return result;
    }
    z_stream& z = stream_->raw();
    // zlib counts in uInt; a larger span is simply taken in several calls.
    const size_t in_size = std::min<size_t>(in.size(), UINT32_MAX);
    const size_t out_size = std::min<size_t>(out.size(), UINT32_MAX);
    z.next_in = const_cast<Bytef*>(in.data());  // zlib's API is not const-correct
    z.avail_in = static_cast<uInt>(in_size);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out_size);
    int rc = deflate(&z, Z_NO_FLUSH);
    result.consumed = in_size - z.avail_in;
    result.produced = out_size - z.avail_out;
    if (!zlib_ok(rc)) result.status = DeflateStatus::error;
    return result;
}

DeflateResult MessageDeflater::finish(std::span<uint8_t> out) {
    DeflateResult result;
    if (out.size() < kMinDeflateOutput || (phase_ == Phase::idle && !begin_message())) {
        result.status = DeflateStatus::error;
        return result;
    }
    const size_t out_size = std::min<size_t>(out.size(), UINT32_MAX);
    std::memcpy(out.data(), held_, held_count_);
    z_stream& z = stream_->raw();
    z.next_in = nullptr;
    z.avail_in = 0;
    z.next_out = out.data() + held_count_;
    z.avail_out = static_cast<uInt>(out_size - held_count_);
    held_count_ = 0;

    // Two steps instead of repeating Z_SYNC_FLUSH until there is room: a
    // Z_SYNC_FLUSH repeated after filling the output appends a second marker
    // (and loops forever with small buffers). Z_BLOCK emits the pending block
    // and can be repeated safely; then one Z_SYNC_FLUSH with enough room
    // appends only the empty stored block. The bytes equal a single sync flush.
    bool complete = false;
    if (phase_ == Phase::compressing) phase_ = Phase::block_flush;
    if (phase_ == Phase::block_flush) {
        if (!zlib_ok(deflate(&z, Z_BLOCK))) result.status = DeflateStatus::error;
        if (z.avail_out > 0) phase_ = Phase::marker_flush;
    }
    if (result.status == DeflateStatus::ok && phase_ == Phase::marker_flush &&
        z.avail_out >= kMarkerRoom) {
        if (!zlib_ok(deflate(&z, Z_SYNC_FLUSH)) || z.avail_out == 0)
            result.status = DeflateStatus::error;
        else
            complete = true;
    }

    // Hold back the last four bytes: until the flush is complete nobody knows
    // whether they are the trailer.
    const size_t total = out_size - z.avail_out;
    const size_t keep = std::min(total, sizeof(kSyncTrailer));
    std::memcpy(held_, out.data() + total - keep, keep);
    held_count_ = static_cast<uint8_t>(keep);
    result.produced = total - keep;
    if (result.status != DeflateStatus::ok) return result;
    if (complete) {
        if (held_count_ != sizeof(kSyncTrailer) ||
            std::memcmp(held_, kSyncTrailer, sizeof(kSyncTrailer)) != 0) {
            result.status = DeflateStatus::error;  // zlib broke its flush contract
            return result;
        }
        end_message();
        result.status = DeflateStatus::done;
    }
    return result;
}

}  // namespace wsgate::proto
