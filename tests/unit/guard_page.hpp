// Test inputs placed so that their last byte is the last byte before a
// PROT_NONE page: a parser or kernel that reads past the end crashes at once
// (the trick picohttpparser's tests use).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace wsgate::test {

class GuardedBuffer {
  public:
    // Copies `bytes` so that they end exactly at the guard page.
    explicit GuardedBuffer(std::string_view bytes) : GuardedBuffer(bytes.data(), bytes.size()) {}

    GuardedBuffer(const void* bytes, size_t len) : len_(len) {
        size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        size_t data_pages = (len + page - 1) / page;
        map_len_ = (data_pages + 1) * page;
        void* map =
            mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) std::abort();
        map_ = static_cast<uint8_t*>(map);
        if (mprotect(map_ + data_pages * page, page, PROT_NONE) != 0) std::abort();
        data_ = map_ + data_pages * page - len;
        if (len > 0) std::memcpy(data_, bytes, len);
    }

    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;
    ~GuardedBuffer() { munmap(map_, map_len_); }

    uint8_t* data() { return data_; }
    const char* chars() const { return reinterpret_cast<const char*>(data_); }
    size_t size() const { return len_; }

  private:
    uint8_t* map_ = nullptr;
    size_t map_len_ = 0;
    uint8_t* data_ = nullptr;
    size_t len_ = 0;
};

}  // namespace wsgate::test
