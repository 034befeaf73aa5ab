// Counts the TLS records passing one way through a connection's BIO, so the
// record sequence number the kernel must continue from is known when the
// keys are handed over (RFC 8446 §5.3, RFC 5246 §6.1: each direction numbers
// its records from 0 under each new key; the number is never on the wire).
// Records are framed alike in both versions (RFC 8446 §5.1, RFC 5246
// §6.2.1): type (1), legacy version (2), length (2), then `length` bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::tls {

class RecordCounter {
  public:
    static constexpr size_t kHeaderBytes = 5;
    static constexpr uint8_t kChangeCipherSpec = 20;

    // Bytes of the stream, in order, in any split.
    void feed(const uint8_t* p, size_t n) {
        while (n > 0) {
            if (body_left_ > 0) {
                size_t take = n < body_left_ ? n : body_left_;
                body_left_ -= take;
                p += take;
                n -= take;
                continue;
            }
            header_[header_got_++] = *p++;
            --n;
            if (header_got_ < kHeaderBytes) continue;
            header_got_ = 0;
            body_left_ = (uint32_t{header_[3]} << 8) | header_[4];
            // TLS 1.2: the records after ChangeCipherSpec are under the new
            // keys, from 0 (RFC 5246 §6.1). TLS 1.3's compatibility CCS
            // (RFC 8446 §D.4) comes before any protected record; the switch to
            // the application keys is marked by the key log (mark()).
            if (header_[0] == kChangeCipherSpec) {
                next_seq_ = 0;
            } else {
                ++next_seq_;
            }
        }
    }

    // The sequence number of the next record under the current keys.
    uint64_t next_seq() const { return next_seq_; }
    // No record is partly through: the stream may change hands here.
    bool at_boundary() const { return header_got_ == 0 && body_left_ == 0; }
    // New keys from the next record on (TLS 1.3 key schedule step).
    void mark() { next_seq_ = 0; }

  private:
    uint64_t next_seq_ = 0;
    uint32_t body_left_ = 0;
    uint8_t header_got_ = 0;
    uint8_t header_[kHeaderBytes] = {};
};

}  // namespace wsgate::tls
