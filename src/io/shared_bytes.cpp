#include "io/shared_bytes.hpp"

#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

namespace wsgate::io {

namespace {
thread_local size_t live_count = 0;
}  // namespace

SharedBytes* SharedBytes::create(size_t size) {
    if (size > std::numeric_limits<uint32_t>::max()) throw std::length_error("SharedBytes size");
    void* p = ::operator new(sizeof(SharedBytes) + size);
    SharedBytes* b = new (p) SharedBytes;
    b->size_ = static_cast<uint32_t>(size);
    ++live_count;
    return b;
}

SharedBytes* SharedBytes::copy_of(std::span<const uint8_t> bytes) {
    SharedBytes* b = create(bytes.size());
    if (!bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
    return b;
}

void SharedBytes::destroy() {
    --live_count;
    this->~SharedBytes();
    ::operator delete(this);
}

size_t SharedBytes::live_on_this_thread() {
    return live_count;
}

}  // namespace wsgate::io
