#include "proto/message_inflater.hpp"

#include <algorithm>
#include <utility>

#include "proto/zstream_pool.hpp"

namespace wsgate::proto {

namespace {

// RFC 7692 §7.2.2: appended to a compressed message's payload before
// inflating; it is the empty stored block the sender's sync flush ended with.
constexpr uint8_t kSyncTrailer[4] = {0x00, 0x00, 0xff, 0xff};
constexpr uInt kTrailerBytes = sizeof(kSyncTrailer);

// zlib's strm.data_type after inflate(): bit 7 says "at a block boundary",
// the low bits count the bits left over from the last input byte.
constexpr int kAtBlockBoundary = 128;
constexpr int kUnusedBitsMask = 63;

ZStreamParams stream_params(const InflaterSettings& s) {
    ZStreamParams p;
    p.kind = ZStreamKind::inflate;
    p.window_bits = std::clamp(s.window_bits, kMinZlibWindowBits, kMaxWindowBits);
    return p;
}

uInt clamp_uint(size_t n) {
    return static_cast<uInt>(std::min<size_t>(n, UINT32_MAX));
}

}  // namespace

MessageInflater::MessageInflater(const InflaterSettings& settings) : settings_(settings) {}

MessageInflater::~MessageInflater() {
    release();
}

MessageInflater::MessageInflater(MessageInflater&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)),
      tally_(std::exchange(other.tally_, {})),
      settings_(other.settings_),
      phase_(std::exchange(other.phase_, Phase::idle)),
      trailer_fed_(std::exchange(other.trailer_fed_, 0)),
      message_has_data_(std::exchange(other.message_has_data_, false)),
      fresh_stream_(std::exchange(other.fresh_stream_, false)),
      at_boundary_(std::exchange(other.at_boundary_, false)) {}

MessageInflater& MessageInflater::operator=(MessageInflater&& other) noexcept {
    if (this != &other) {
        release();
        stream_ = std::exchange(other.stream_, nullptr);
        tally_ = std::exchange(other.tally_, {});
        settings_ = other.settings_;
        phase_ = std::exchange(other.phase_, Phase::idle);
        trailer_fed_ = std::exchange(other.trailer_fed_, 0);
        message_has_data_ = std::exchange(other.message_has_data_, false);
        fresh_stream_ = std::exchange(other.fresh_stream_, false);
        at_boundary_ = std::exchange(other.at_boundary_, false);
    }
    return *this;
}

size_t MessageInflater::memory_bytes() const {
    return stream_ ? stream_->bytes() : 0;
}

void MessageInflater::release() {
    if (stream_ != nullptr) {
        // The pool resets the stream, whatever state a failed message left.
        give_back_zstream(stream_, settings_.no_context_takeover);
        stream_ = nullptr;
    }
    phase_ = Phase::idle;
    tally_ = {};
    trailer_fed_ = 0;
    message_has_data_ = false;
    fresh_stream_ = false;
}

bool MessageInflater::reserve_stream() {
    if (stream_ == nullptr)
        stream_ = obtain_zstream(stream_params(settings_), settings_.no_context_takeover);
    return stream_ != nullptr;
}

bool MessageInflater::begin_message() {
    // Lazy: a connection that never receives a compressed message never
    // pays for an inflate stream.
    if (!reserve_stream()) return false;
    phase_ = Phase::inflating;
    tally_ = {};
    trailer_fed_ = 0;
    message_has_data_ = false;
    fresh_stream_ = false;
    at_boundary_ = false;
    return true;
}

void MessageInflater::end_message() {
    phase_ = Phase::idle;
    if (settings_.no_context_takeover) {
        // The next message starts with an empty window (RFC 7692 §7.1.1.2);
        // the pool resets the stream.
        release_pooled_zstream(stream_);
        stream_ = nullptr;
    }
}

// A block with BFINAL=1 ends zlib's stream, but RFC 7692 §7.2.3.4 lets a
// sender flush that way and keep going (in the same message, or the next one
// with context takeover), so a new stream starts with the old window as its
// dictionary.
bool MessageInflater::restart_after_final_block(InflateResult& result) {
    z_stream& z = stream_->raw();
    // Rare path; the stack copy avoids keeping a second window per connection.
    Bytef window[1u << kMaxWindowBits];
    uInt length = sizeof(window);
    if (inflateGetDictionary(&z, window, &length) != Z_OK) return false;
    if (inflateReset(&z) != Z_OK) return false;
    if (length > 0 && inflateSetDictionary(&z, window, length) != Z_OK) return false;
    // The window went out and back in: a peer sending empty BFINAL blocks
    // makes each 2 input bytes cost this much, so it counts as work.
    const size_t copied = size_t{2} * length;
    result.work += copied;
    tally_.work += copied;
    fresh_stream_ = true;
    return true;
}

InflateStatus MessageInflater::work_verdict() const {
    if (settings_.max_input_without_output != 0 &&
        tally_.input_without_output > settings_.max_input_without_output) {
        return InflateStatus::no_output;
    }
    // Division, not max_ratio x compressed: no overflow whatever the settings.
    if (settings_.max_ratio != 0 && tally_.work > settings_.ratio_grace_bytes &&
        tally_.work / settings_.max_ratio > tally_.compressed) {
        return InflateStatus::over_ratio;
    }
    return InflateStatus::ok;
}

void MessageInflater::count_step(InflateResult& result, size_t used, size_t made) {
    result.consumed += used;
    result.produced += made;
    result.work += made;
    tally_.compressed += used;
    tally_.work += made;
    tally_.input_without_output = made > 0 ? 0 : tally_.input_without_output + used;
    if (used > 0) fresh_stream_ = false;
}

// Never more than one byte past the limit: a bomb is detected as soon as it
// crosses max_message_bytes, whatever the output space. Checked whatever
// else happened: zlib may fill the last allowed byte and hit corrupt data in
// the same call; the limit was crossed first.
void MessageInflater::clip_to_limit(InflateResult& result, uint64_t allowance) {
    if (result.produced > allowance) {
        result.produced = static_cast<size_t>(allowance);
        result.status = InflateStatus::too_big;
    }
    tally_.inflated += result.produced;
    if (result.status != InflateStatus::ok && result.status != InflateStatus::done)
        phase_ = Phase::failed;
}

InflateResult MessageInflater::run(std::span<const uint8_t> in, std::span<uint8_t> out) {
    InflateResult result;
    if (in.size() > settings_.max_compressed_bytes - tally_.compressed) {
        // Too big as sent: refused before any of it is inflated.
        result.status = InflateStatus::too_big;
        phase_ = Phase::failed;
        return result;
    }
    z_stream& z = stream_->raw();
    const uint64_t allowance = settings_.max_message_bytes - tally_.inflated;
    const size_t out_cap = allowance < out.size() ? static_cast<size_t>(allowance) + 1 : out.size();
    while (true) {
        // zlib gets at most one byte more than the padding run may still
        // grow, so a run without output is caught whatever the chunk size.
        uint64_t room = in.size() - result.consumed;
        if (settings_.max_input_without_output != 0) {
            room = std::min<uint64_t>(
                room, settings_.max_input_without_output + 1 - tally_.input_without_output);
        }
        z.next_in = const_cast<Bytef*>(in.data() + result.consumed);  // zlib is not const-correct
        z.avail_in = clamp_uint(room);
        z.next_out = out.data() + result.produced;
        z.avail_out = clamp_uint(out_cap - result.produced);
        const uInt in_before = z.avail_in;
        const uInt out_before = z.avail_out;
        const int rc = ::inflate(&z, Z_SYNC_FLUSH);
        count_step(result, in_before - z.avail_in, out_before - z.avail_out);
        if (rc == Z_STREAM_END && !restart_after_final_block(result))
            result.status = InflateStatus::error;
        if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) result.status = InflateStatus::invalid_data;
        if (rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR) result.status = InflateStatus::error;
        if (result.status == InflateStatus::ok) result.status = work_verdict();
        if (result.status != InflateStatus::ok) break;
        // Z_OK / Z_STREAM_END: go on while input and output space are left.
        // Z_BUF_ERROR: no progress possible.
        if ((rc == Z_OK || rc == Z_STREAM_END) && result.consumed < in.size() &&
            result.produced < out_cap)
            continue;
        break;
    }
    clip_to_limit(result, allowance);
    return result;
}

InflateResult MessageInflater::inflate(std::span<const uint8_t> in, std::span<uint8_t> out) {
    InflateResult result;
    if (phase_ == Phase::failed || out.empty() || (phase_ == Phase::idle && !begin_message())) {
        result.status = InflateStatus::error;
        return result;
    }
    if (!in.empty()) message_has_data_ = true;
    return run(in, out);
}

InflateResult MessageInflater::finish(std::span<uint8_t> out) {
    InflateResult result;
    if (phase_ == Phase::failed || out.empty() || (phase_ == Phase::idle && !begin_message())) {
        result.status = InflateStatus::error;
        return result;
    }
    // An empty payload holds no block to terminate (some senders send an
    // empty message so); a stream closed by a BFINAL block with nothing after
    // it needs no trailer either.
    if (!message_has_data_ || (fresh_stream_ && trailer_fed_ == 0)) {
        end_message();
        result.status = InflateStatus::done;
        return result;
    }
    z_stream& z = stream_->raw();
    const uint64_t allowance = settings_.max_message_bytes - tally_.inflated;
    const size_t out_cap = allowance < out.size() ? static_cast<size_t>(allowance) + 1 : out.size();
    z.next_in = const_cast<Bytef*>(kSyncTrailer + trailer_fed_);
    z.avail_in = kTrailerBytes - trailer_fed_;
    z.next_out = out.data();
    z.avail_out = clamp_uint(out_cap);
    const uInt in_before = z.avail_in;
    const int rc = ::inflate(&z, Z_SYNC_FLUSH);
    trailer_fed_ = static_cast<uint8_t>(trailer_fed_ + (in_before - z.avail_in));
    // The trailer is not the sender's input: only the output is counted.
    const size_t made = clamp_uint(out_cap) - z.avail_out;
    result.produced = made;
    result.work = made;
    tally_.work += made;
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) result.status = InflateStatus::invalid_data;
    if (rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR) result.status = InflateStatus::error;
    if (rc == Z_STREAM_END && result.status == InflateStatus::ok) {
        // The trailer completed a BFINAL block; the rest of it is not needed.
        if (!restart_after_final_block(result)) result.status = InflateStatus::error;
    }
    if (result.status == InflateStatus::ok) result.status = work_verdict();
    clip_to_limit(result, allowance);
    if (result.status != InflateStatus::ok) return result;
    if (rc == Z_STREAM_END) {
        end_message();
        result.status = InflateStatus::done;
        return result;
    }
    // zlib turns "at a block boundary" into "reading the next header" on
    // entry, so a call that made no progress reports no boundary: keep the
    // answer of the last call that did.
    if (in_before != z.avail_in || result.produced > 0)
        at_boundary_ =
            (z.data_type & kAtBlockBoundary) != 0 && (z.data_type & kUnusedBitsMask) == 0;
    // Output full: zlib may hold more; the caller calls again with space.
    if (trailer_fed_ < kTrailerBytes || z.avail_out == 0) return result;
    // With the trailer appended, a well-formed message ends exactly after an
    // empty stored block: at a byte-aligned block boundary. Anything else is
    // a truncated block, which would also corrupt the next message's context.
    if (!at_boundary_) {
        phase_ = Phase::failed;
        result.status = InflateStatus::invalid_data;
        return result;
    }
    end_message();
    result.status = InflateStatus::done;
    return result;
}

}  // namespace wsgate::proto
