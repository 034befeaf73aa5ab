#include "io/out_queue.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace wsgate::io {

namespace {
constexpr uint32_t kSmallPayload = kSmallChunkBytes - sizeof(Chunk);
constexpr uint32_t kLargePayload = kLargeChunkBytes - sizeof(Chunk);
}  // namespace

ChunkPool::~ChunkPool() {
    trim();
}

void ChunkPool::trim() {
    for (Chunk* c : free_small_)
        ::operator delete(c);
    for (Chunk* c : free_large_)
        ::operator delete(c);
    for (Chunk* c : free_lent_)
        delete c;
    // swap, not clear: the vectors' own arrays go back too.
    std::vector<Chunk*>().swap(free_small_);
    std::vector<Chunk*>().swap(free_large_);
    std::vector<Chunk*>().swap(free_lent_);
}

Chunk* ChunkPool::get(size_t min_payload) {
    ++outstanding_;
    bool small = min_payload <= kSmallPayload;
    std::vector<Chunk*>& list = small ? free_small_ : free_large_;
    Chunk* c;
    if (list.empty()) {
        c = new (::operator new(small ? kSmallChunkBytes : kLargeChunkBytes)) Chunk;
        c->base = reinterpret_cast<uint8_t*>(c + 1);
        c->capacity = small ? kSmallPayload : kLargePayload;
    } else {
        c = list.back();
        list.pop_back();
    }
    c->next = nullptr;
    c->begin = c->end = 0;
    return c;
}

Chunk* ChunkPool::get_header() {
    ++outstanding_;
    if (free_lent_.empty()) return new Chunk;
    Chunk* c = free_lent_.back();
    free_lent_.pop_back();
    return c;
}

Chunk* ChunkPool::get_lent(uint8_t* data, uint32_t len, uint32_t id) {
    Chunk* c = get_header();
    c->next = nullptr;
    c->base = data;
    c->begin = 0;
    c->end = c->capacity = len;
    c->lent = id;
    return c;
}

Chunk* ChunkPool::get_shared(SharedBytes& bytes) {
    bytes.retain();
    Chunk* c = get_header();
    c->next = nullptr;
    c->base = bytes.data();
    c->begin = 0;
    c->end = c->capacity = bytes.size();
    c->lent = kSharedChunk;
    return c;
}

void ChunkPool::put(Chunk* c) {
    --outstanding_;
    if (c->lent != kOwnedChunk) {
        if (c->lent == kSharedChunk) {
            SharedBytes::from_data(c->base)->release();
        } else {
            release_.fn(release_.context, c->lent);
        }
        if (free_lent_.size() >= max_cached_) {
            delete c;
        } else {
            free_lent_.push_back(c);
        }
        return;
    }
    std::vector<Chunk*>& list = c->capacity == kSmallPayload ? free_small_ : free_large_;
    if (list.size() >= max_cached_) {
        ::operator delete(c);
        return;
    }
    list.push_back(c);
}

void OutQueue::append(ChunkPool& pool, std::span<const uint8_t> bytes) {
    const uint8_t* p = bytes.data();
    size_t left = bytes.size();
    while (left != 0) {
        if (tail_ == nullptr || tail_->end == tail_->capacity) link(pool.get(left));
        size_t n = std::min<size_t>(left, tail_->capacity - tail_->end);
        std::memcpy(tail_->data() + tail_->end, p, n);
        tail_->end += static_cast<uint32_t>(n);
        p += n;
        left -= n;
        bytes_ += n;
    }
}

void OutQueue::append_lent(ChunkPool& pool, uint8_t* data, size_t len, uint32_t id) {
    link(pool.get_lent(data, static_cast<uint32_t>(len), id));
    bytes_ += len;
    ++lent_;
}

void OutQueue::append_shared(ChunkPool& pool, SharedBytes& bytes) {
    if (bytes.size() == 0) return;  // nothing to send: no chunk to drop later
    link(pool.get_shared(bytes));
    bytes_ += bytes.size();
}

void OutQueue::link(Chunk* c) {
    if (tail_ != nullptr) {
        tail_->next = c;
    } else {
        head_ = c;
    }
    tail_ = c;
}

size_t OutQueue::gather(iovec* iov, size_t max) const {
    size_t n = 0;
    for (Chunk* c = head_; c != nullptr && n < max; c = c->next) {
        if (c->end == c->begin) continue;
        iov[n].iov_base = c->data() + c->begin;
        iov[n].iov_len = c->end - c->begin;
        ++n;
    }
    return n;
}

void OutQueue::consume(ChunkPool& pool, size_t n) {
    bytes_ -= n;
    while (n != 0 && head_ != nullptr) {
        size_t avail = head_->end - head_->begin;
        size_t take = std::min(avail, n);
        head_->begin += static_cast<uint32_t>(take);
        n -= take;
        if (head_->begin == head_->end) {
            Chunk* done = head_;
            head_ = head_->next;
            if (head_ == nullptr) tail_ = nullptr;
            if (done->lent_buffer()) --lent_;
            pool.put(done);
        }
    }
}

void OutQueue::clear(ChunkPool& pool) {
    while (head_ != nullptr) {
        Chunk* next = head_->next;
        pool.put(head_);
        head_ = next;
    }
    tail_ = nullptr;
    bytes_ = 0;
    lent_ = 0;
}

}  // namespace wsgate::io
