// How many zlib streams each event loop's connections may hold at once
// (ws::LoopCompression's budget), when --deflate-max-streams leaves it to
// the machine: compression may use an eighth of physical memory.
#pragma once

#include <cstdint>

#include "proto/deflate_negotiation.hpp"

namespace wsgate::gateway {

// Never below this many per loop, however small the machine.
inline constexpr uint64_t kMinStreamsPerLoop = 64;
// The share of physical memory all loops' zlib streams may hold together.
inline constexpr uint64_t kDeflateMemoryShare = 8;

// Bytes the largest stream this config creates holds (a deflate stream:
// window, hash chains and pending buffer; an inflate stream is smaller).
uint64_t deflate_stream_bytes(const proto::DeflateConfig& deflate);

// physical_bytes / kDeflateMemoryShare spread over `loops` loops (all
// workers' threads), in streams of deflate_stream_bytes(); at least
// kMinStreamsPerLoop.
uint64_t streams_per_loop(uint64_t physical_bytes, uint64_t loops, uint64_t stream_bytes);

// Physical memory of the machine (sysconf), 0 when unknown.
uint64_t physical_memory_bytes();

}  // namespace wsgate::gateway
