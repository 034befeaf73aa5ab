#include "io/msg_ring.hpp"

namespace wsgate::io {

bool msg_ring_supported(io_uring& ring) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (probe == nullptr) return false;
    bool ok = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) != 0;
    io_uring_free_probe(probe);
    return ok;
}

}  // namespace wsgate::io
