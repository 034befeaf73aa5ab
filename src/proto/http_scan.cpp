#include "proto/http_scan.hpp"

#include <emmintrin.h>

#include <cstdint>

namespace wsgate::proto {

namespace {

constexpr size_t kVectorBytes = 16;
constexpr unsigned char kMaxControl = 0x1F;
constexpr unsigned char kDelete = 0x7F;

// RFC 9110 §5.5: field values may hold HTAB but no other CTL; CR is allowed
// here only because the caller checks that every CR is followed by LF.
bool is_interesting_scalar(unsigned char c) {
    return (c <= kMaxControl && c != '\t' && c != '\r') || c == kDelete;
}

// Decides what the interesting byte at buf[at] means; kind not_found means
// "an ordinary CR LF, keep going".
HeadScan classify(const char* buf, size_t at) {
    if (buf[at] != '\n') return {HeadScan::Kind::control_byte, at};
    if (at == 0 || buf[at - 1] != '\r') return {HeadScan::Kind::bare_lf, at};
    if (at >= 3 && buf[at - 2] == '\n' && buf[at - 3] == '\r') return {HeadScan::Kind::end, at + 1};
    return {HeadScan::Kind::not_found, at};
}

// Bit i set when byte i of v is LF, a forbidden CTL or DEL.
unsigned interesting_mask(__m128i v) {
    const __m128i max_control = _mm_set1_epi8(static_cast<char>(kMaxControl));
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, max_control), v);  // unsigned v <= 0x1F
    __m128i allowed = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                   _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(kDelete)));
    return static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(allowed, control), del)));
}

__m128i load16(const char* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

}  // namespace

HeadScan scan_request_head_scalar(const char* buf, size_t from, size_t len) {
    for (size_t i = from; i < len; ++i) {
        if (!is_interesting_scalar(static_cast<unsigned char>(buf[i]))) continue;
        HeadScan r = classify(buf, i);
        if (r.kind != HeadScan::Kind::not_found) return r;
    }
    return {HeadScan::Kind::not_found, len};
}

HeadScan scan_request_head(const char* buf, size_t from, size_t len) {
    size_t i = from;
    for (; i + kVectorBytes <= len; i += kVectorBytes) {
        unsigned mask = interesting_mask(load16(buf + i));
        while (mask != 0) {
            HeadScan r = classify(buf, i + static_cast<size_t>(__builtin_ctz(mask)));
            if (r.kind != HeadScan::Kind::not_found) return r;
            mask &= mask - 1;
        }
    }
    if (i < len && len >= kVectorBytes) {
        // Tail: one overlapping load ending at len; bytes before i were seen.
        size_t base = len - kVectorBytes;
        unsigned mask = interesting_mask(load16(buf + base)) >> (i - base) << (i - base);
        while (mask != 0) {
            HeadScan r = classify(buf, base + static_cast<size_t>(__builtin_ctz(mask)));
            if (r.kind != HeadScan::Kind::not_found) return r;
            mask &= mask - 1;
        }
        return {HeadScan::Kind::not_found, len};
    }
    return scan_request_head_scalar(buf, i, len);
}

const char* find_cr_scalar(const char* p, const char* end) {
    while (p < end && *p != '\r')
        ++p;
    return p;
}

const char* find_cr(const char* p, const char* end) {
    const __m128i cr = _mm_set1_epi8('\r');
    for (; end - p >= static_cast<ptrdiff_t>(kVectorBytes); p += kVectorBytes) {
        unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(load16(p), cr)));
        if (mask != 0) return p + __builtin_ctz(mask);
    }
    return find_cr_scalar(p, end);
}

}  // namespace wsgate::proto
