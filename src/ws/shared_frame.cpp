#include "ws/shared_frame.hpp"

#include <cstring>

#include "proto/frame_writer.hpp"

namespace wsgate::ws {

io::SharedBytesRef make_shared_frame(proto::Opcode opcode, std::span<const uint8_t> payload) {
    uint8_t header[proto::kMaxServerFrameHeader];
    size_t n = proto::write_frame_header(header, opcode, true, false, payload.size());
    io::SharedBytesRef frame(io::SharedBytes::create(n + payload.size()));
    std::memcpy(frame->data(), header, n);
    if (!payload.empty()) std::memcpy(frame->data() + n, payload.data(), payload.size());
    return frame;
}

}  // namespace wsgate::ws
