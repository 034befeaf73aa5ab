// libFuzzer target for UTF-8 validation. Input: one byte N (low 4 bits: how
// many cuts), then N bytes of piece lengths, then the text. Checks that
// every kernel this CPU supports agrees with the scalar one and with the
// independent reference decoder, on the text and on each piece, and that the
// incremental validator fed those pieces refuses exactly the piece holding
// the first invalid byte (fail fast) and otherwise ends at a boundary
// exactly when the text is valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "../unit/utf8_reference.hpp"
#include "proto/utf8.hpp"

namespace {

using namespace wsgate::proto;

constexpr uint8_t kCutCountMask = 0x0F;

void check_kernels(const uint8_t* data, size_t len) {
    // An exact-size copy so that AddressSanitizer sees any read past len.
    std::vector<uint8_t> copy(data, data + len);
    const bool expected = utf8_valid_scalar(copy.data(), len);
    if (expected != wsgate::test::reference_utf8_valid(copy.data(), len)) std::abort();
    for (SimdLevel level : supported_simd_levels()) {
        if (utf8_kernel(level)(copy.data(), len) != expected) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const size_t cut_count = data[0] & kCutCountMask;
    if (size < 1 + cut_count) return 0;
    const uint8_t* cut_bytes = data + 1;
    const uint8_t* text = data + 1 + cut_count;
    const size_t len = size - 1 - cut_count;

    check_kernels(text, len);
    const auto reference = wsgate::test::reference_utf8_check(text, len);

    Utf8Validator validator;
    size_t start = 0;
    for (size_t k = 0; k <= cut_count; ++k) {
        const size_t rest = len - start;
        const size_t piece = k < cut_count ? cut_bytes[k] % (rest + 1) : rest;
        check_kernels(text + start, piece);
        std::vector<uint8_t> copy(text + start, text + start + piece);
        const bool accepted = validator.feed(copy.data(), piece);
        const bool holds_first_invalid = reference.first_invalid < start + piece;
        if (accepted == holds_first_invalid) std::abort();
        if (!accepted) return 0;
        start += piece;
    }
    if (validator.at_boundary() != reference.valid) std::abort();
    return 0;
}
