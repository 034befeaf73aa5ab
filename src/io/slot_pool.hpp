// Fixed-capacity pool of records addressed by index + generation. The
// address space for `capacity` slots is reserved up front with mmap; a page
// becomes resident only when a slot on it is first used, so a pool sized for
// 100,000 connections costs nothing until they arrive. Slots never move.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "io/user_data.hpp"

namespace wsgate::io {

template <class T>
class SlotPool {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;

    explicit SlotPool(uint32_t capacity) : capacity_(capacity) {
        bytes_ = size_t{capacity} * sizeof(Slot);
        if (bytes_ == 0) return;
        void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        slots_ = static_cast<Slot*>(p);
    }
    ~SlotPool() {
        for_each([](uint32_t, T& t) { t.~T(); });
        if (slots_ != nullptr) munmap(slots_, bytes_);
    }
    SlotPool(const SlotPool&) = delete;
    SlotPool& operator=(const SlotPool&) = delete;

    // Constructs a T in a free slot and returns its index, or kNone when full.
    // The most recently freed slot is reused first (its page is warm).
    template <class... Args>
    uint32_t allocate(Args&&... args) {
        uint32_t i;
        if (free_head_ != kNone) {
            i = free_head_;
            free_head_ = slots_[i].next_free;
        } else if (high_water_ < capacity_) {
            i = high_water_++;
            slots_[i].generation = 0;
        } else {
            return kNone;
        }
        new (&slots_[i].storage) T(std::forward<Args>(args)...);
        slots_[i].next_free = kLive;
        ++live_;
        return i;
    }

    // Destroys the record at `index` and bumps its generation, so stale
    // references (index, old generation) no longer resolve.
    void release(uint32_t index) {
        Slot& s = slots_[index];
        ptr(index)->~T();
        s.generation = (s.generation + 1) & kGenerationMask;
        s.next_free = free_head_;
        free_head_ = index;
        --live_;
    }

    // The live record at (index, generation), or nullptr when that record
    // was released (or never existed).
    T* find(uint32_t index, uint32_t generation) {
        if (index >= high_water_) return nullptr;
        Slot& s = slots_[index];
        if (s.next_free != kLive || s.generation != generation) return nullptr;
        return ptr(index);
    }

    T& operator[](uint32_t index) { return *ptr(index); }
    uint32_t generation(uint32_t index) const { return slots_[index].generation; }
    bool live(uint32_t index) const {
        return index < high_water_ && slots_[index].next_free == kLive;
    }
    uint32_t size() const { return live_; }
    uint32_t capacity() const { return capacity_; }

    // Calls f(index, record) for every live record. f may release the record
    // it is given (but no other).
    template <class F>
    void for_each(F&& f) {
        for (uint32_t i = 0; i < high_water_; ++i) {
            if (slots_[i].next_free == kLive) f(i, *ptr(i));
        }
    }

  private:
    static constexpr uint32_t kLive = UINT32_MAX - 1;
    struct Slot {
        alignas(T) unsigned char storage[sizeof(T)];
        uint32_t generation;
        uint32_t next_free;  // kLive while the slot holds a record
    };
    T* ptr(uint32_t i) { return std::launder(reinterpret_cast<T*>(&slots_[i].storage)); }

    Slot* slots_ = nullptr;
    size_t bytes_ = 0;
    uint32_t capacity_;
    uint32_t high_water_ = 0;
    uint32_t free_head_ = kNone;
    uint32_t live_ = 0;
};

}  // namespace wsgate::io
