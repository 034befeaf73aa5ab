// A fixed array of zero-initialised records on pages of their own
// (anonymous mmap): a page costs memory only once a record on it is
// written. calloc does not promise that: an allocator that reuses memory
// (mimalloc does for large blocks) zeroes the whole block with memset, so a
// table sized for every connection would be resident from the start
// (seen in callgrind: 3.7 M instructions of memset at start-up for the
// per-connection rate buckets of 100,000 slots).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <type_traits>

namespace wsgate::ws {

// T must be an implicit-lifetime type for which all-zero bytes are a valid
// value (the records here: plain integers).
template <class T>
class ZeroPages {
    static_assert(std::is_trivially_copyable_v<T>);

  public:
    ZeroPages() = default;
    explicit ZeroPages(size_t count) { allocate(count); }
    ~ZeroPages() { release(); }
    ZeroPages(const ZeroPages&) = delete;
    ZeroPages& operator=(const ZeroPages&) = delete;

    // Allocates count zeroed records (dropping any held before).
    void allocate(size_t count) {
        release();
        if (count == 0) return;
        bytes_ = count * sizeof(T);
        void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            bytes_ = 0;
            throw std::bad_alloc();
        }
        data_ = static_cast<T*>(p);
    }

    explicit operator bool() const { return data_ != nullptr; }
    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }

  private:
    void release() {
        if (data_ != nullptr) munmap(data_, bytes_);
        data_ = nullptr;
        bytes_ = 0;
    }
    T* data_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace wsgate::ws
