// UTF-8 validation (RFC 3629) for text messages and close reasons
// (RFC 6455 §5.6, §8.1), with SIMD kernels and an incremental validator.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proto/simd_level.hpp"
#include "proto/utf8_kernels.hpp"  // utf8_valid_scalar/sse2/avx2/avx512

namespace wsgate::proto {

// One kernel: true when data[0, len) is complete, valid UTF-8 (no overlongs,
// no surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated
// sequence at the end). Reads only data[0, len).
using Utf8Kernel = bool (*)(const uint8_t* data, size_t len);

// The kernel for `level` (declared in utf8_kernels.hpp).
Utf8Kernel utf8_kernel(SimdLevel level);

// Whole-buffer validation with the kernel of active_simd_level().
bool utf8_valid(const uint8_t* data, size_t len);

// Validates a text message that arrives in pieces (frames, buffers) of any
// size, cut anywhere, even inside a code point. Fails fast: feed() returns
// false as soon as the bytes seen so far cannot begin valid UTF-8 (an
// invalid byte, an overlong or surrogate prefix such as E0 80 or ED A0),
// without waiting for the end of the message. Holds no pointer to the
// caller's bytes between calls; a few bytes of state, no allocation.
class Utf8Validator {
  public:
    // Validates the next piece. After it returns false the validator stays
    // failed until reset().
    bool feed(const uint8_t* data, size_t len);

    // feed() with the whole code points of the piece checked by `kernel`
    // instead of the dispatched one (tests and benchmarks compare kernels).
    // A parameter rather than a member keeps the validator small (it lives in
    // every connection's frame decoder).
    bool feed(const uint8_t* data, size_t len, Utf8Kernel kernel);

    // True when everything fed so far is valid and ends on a code point
    // boundary: a message may end here.
    bool at_boundary() const { return !failed_ && pending_len_ == 0; }

    bool failed() const { return failed_; }

    void reset() {
        pending_len_ = 0;
        failed_ = false;
    }

  private:
    // The start of a code point that the last piece cut off (at most 3 bytes).
    uint8_t pending_[4] = {};
    uint8_t pending_len_ = 0;
    bool failed_ = false;
};
static_assert(sizeof(Utf8Validator) <= 8, "Utf8Validator is part of every connection");

}  // namespace wsgate::proto
