#include "gateway/deflate_budget.hpp"

#include <unistd.h>

#include <algorithm>

#include "proto/zstream.hpp"

namespace wsgate::gateway {

uint64_t deflate_stream_bytes(const proto::DeflateConfig& deflate) {
    proto::ZStreamParams p;
    p.kind = proto::ZStreamKind::deflate;
    p.window_bits = std::max(deflate.server_max_window_bits, proto::kMinZlibWindowBits);
    p.mem_level = deflate.mem_level;
    p.level = deflate.level;
    return proto::measure_zstream_bytes(p);
}

uint64_t streams_per_loop(uint64_t physical_bytes, uint64_t loops, uint64_t stream_bytes) {
    if (loops == 0 || stream_bytes == 0) return kMinStreamsPerLoop;
    return std::max(kMinStreamsPerLoop,
                    physical_bytes / kDeflateMemoryShare / loops / stream_bytes);
}

uint64_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return 0;
    return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
}

}  // namespace wsgate::gateway
