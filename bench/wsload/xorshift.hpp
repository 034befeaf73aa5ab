#pragma once
// A worker's cheap random numbers (message variants, masks, ping spread):
// xorshift64*, seeded per worker so workers do not repeat each other.

#include <cstdint>

namespace wsgate::bench {

class XorShift64 {
  public:
    explicit XorShift64(std::uint32_t first_index) {
        state_ ^= std::uint64_t{first_index} * 0x9E3779B97F4A7C15ull + 1;
    }
    std::uint64_t next() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1Dull;
    }

  private:
    std::uint64_t state_ = 0x853C49E6748FEA9Bull;
};

}  // namespace wsgate::bench
