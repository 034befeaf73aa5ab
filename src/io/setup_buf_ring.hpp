// Creates and registers a provided-buffer ring (kernel 5.19). liburing 2.3
// has io_uring_register_buf_ring but not io_uring_setup_buf_ring, so this is
// that helper: the ring memory is an anonymous page-aligned mapping.
#pragma once

#include <liburing.h>

#include <cstdint>

namespace wsgate::io {

// Maps and registers a ring of `entries` (power of two, <= 32768) buffer
// slots as buffer group `group_id`, with registration `flags` (0, or
// IOU_PBUF_RING_INC from io/uring_abi.hpp). Returns the ring (initialised,
// empty) or nullptr with -errno in *err. Free it with free_buf_ring.
io_uring_buf_ring* setup_buf_ring(io_uring& ring, uint32_t entries, uint16_t group_id, int* err,
                                  uint16_t flags = 0);

// Unregisters group_id and unmaps the ring memory.
void free_buf_ring(io_uring& ring, io_uring_buf_ring* br, uint32_t entries, uint16_t group_id);

}  // namespace wsgate::io
