#include "ws/shared_message.hpp"

#include "ws/shared_frame.hpp"

namespace wsgate::ws {

io::SharedBytes& SharedMessage::plain() {
    if (!plain_) plain_ = make_shared_frame(opcode_, payload_);
    return *plain_.get();
}

io::SharedBytes& SharedMessage::frame_for(const CompressionSlot& slot,
                                          LoopCompression& compression) {
    if (!slot.negotiated()) return plain();
    proto::DeflateAgreement agreed = slot.agreement();
    if (!agreed.server_no_context_takeover) return plain();
    Compressed& c =
        compressed_[(agreed.server_max_window_bits - proto::kMinWindowBits) % kWindowSizes];
    if (!c.tried) {
        c.tried = true;
        c.frame = compression.compressed_frame(agreed, opcode_, payload_);
    }
    return c.frame ? *c.frame.get() : plain();
}

}  // namespace wsgate::ws
