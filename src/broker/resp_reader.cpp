#include "broker/resp_reader.hpp"

#include <hiredis/read.h>

#include <new>

namespace wsgate::broker {

namespace {
// What a node costs against the cap besides its string bytes.
constexpr size_t kNodeCost = sizeof(RespValue) + 8;
}  // namespace

RespReader::RespReader(size_t max_reply_bytes) : max_reply_bytes_(max_reply_bytes) {
    open_reader();
}

RespReader::~RespReader() {
    if (reader_ != nullptr) redisReaderFree(reader_);
}

void RespReader::open_reader() {
    if (reader_ != nullptr) redisReaderFree(reader_);
    // One table for every reader of every loop, initialised once (loops
    // create their links concurrently); hiredis only reads it.
    static redisReplyObjectFunctions functions = {
        &RespReader::create_string, &RespReader::create_array, &RespReader::create_integer,
        &RespReader::create_nil, &RespReader::free_object};
    reader_ = redisReaderCreateWithFunctions(&functions);
    if (reader_ == nullptr) throw std::bad_alloc();
    reader_->privdata = this;
    // An idle link gives back a buffer that grew past this (a large reply).
    reader_->maxbuf = 256 * 1024;
}

void RespReader::reset() {
    open_reader();
    nodes_.clear();
    text_.clear();
    spans_.clear();
    charged_ = 0;
    complete_ = false;
    failed_ = false;
    what_.clear();
}

size_t RespReader::buffered() const {
    return reader_->len - reader_->pos;
}

bool RespReader::feed(std::string_view bytes) {
    if (failed_) return false;
    if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) {
        fail(reader_->errstr);
        return false;
    }
    return true;
}

RespReader::Result RespReader::next() {
    if (failed_) return Result::failed;
    if (complete_) {
        // The previous reply was handed out; a partial one stays (hiredis
        // goes on building it when more bytes come).
        nodes_.clear();
        text_.clear();
        spans_.clear();
        charged_ = 0;
        complete_ = false;
    }
    void* token = nullptr;
    if (redisReaderGetReply(reader_, &token) != REDIS_OK) {
        // Ours (over the cap) or hiredis's (protocol error, nesting > 7).
        if (!failed_) fail(reader_->errstr);
        return Result::failed;
    }
    if (token == nullptr) {
        // A reply still arriving: its bytes so far count against the cap
        // (a bulk string of 512 MB announced would otherwise be buffered).
        if (buffered() > max_reply_bytes_) {
            fail("reply larger than the limit");
            return Result::failed;
        }
        return Result::need_more;
    }
    complete_ = true;
    // Views now that the arena no longer moves.
    for (size_t i = 0; i < nodes_.size(); ++i) {
        RespValue& v = nodes_[i];
        auto [off, len] = spans_[i];
        if (v.type == RespType::array) {
            v.items = len == 0 ? nullptr : &nodes_[off];
            v.count = len;
        } else if (v.type == RespType::string || v.type == RespType::status ||
                   v.type == RespType::error) {
            v.text = std::string_view(text_.data() + off, len);
        }
    }
    return Result::reply;
}

void RespReader::fail(std::string_view why) {
    failed_ = true;
    what_.assign(why);
}

bool RespReader::charge(size_t bytes) {
    charged_ += bytes;
    if (charged_ <= max_reply_bytes_) return true;
    fail("reply larger than the limit");
    return false;
}

RespValue* RespReader::place(const redisReadTask* task, void** token) {
    size_t index;
    if (task->parent == nullptr) {
        index = nodes_.size();  // 0: a reply's root comes first
        nodes_.emplace_back();
        spans_.emplace_back(0, 0);
    } else {
        size_t parent = reinterpret_cast<uintptr_t>(task->parent->obj) - 1;
        index = spans_[parent].first + static_cast<size_t>(task->idx);
    }
    *token = reinterpret_cast<void*>(static_cast<uintptr_t>(index + 1));
    return &nodes_[index];
}

void* RespReader::create_string(const redisReadTask* task, char* str, size_t len) {
    auto* self = static_cast<RespReader*>(task->privdata);
    if (!self->charge(len + kNodeCost)) return nullptr;
    void* token = nullptr;
    RespValue* v = self->place(task, &token);
    v->type = task->type == REDIS_REPLY_ERROR    ? RespType::error
              : task->type == REDIS_REPLY_STATUS ? RespType::status
                                                 : RespType::string;
    size_t index = reinterpret_cast<uintptr_t>(token) - 1;
    self->spans_[index] = {static_cast<uint32_t>(self->text_.size()), static_cast<uint32_t>(len)};
    self->text_.insert(self->text_.end(), str, str + len);
    return token;
}

void* RespReader::create_array(const redisReadTask* task, int elements) {
    auto* self = static_cast<RespReader*>(task->privdata);
    // Each element costs at least a node: a huge count fails here, before
    // anything is reserved for it.
    if (elements < 0 || !self->charge(kNodeCost * (static_cast<size_t>(elements) + 1))) {
        return nullptr;
    }
    void* token = nullptr;
    RespValue* v = self->place(task, &token);
    v->type = RespType::array;
    size_t index = reinterpret_cast<uintptr_t>(token) - 1;
    size_t first = self->nodes_.size();
    self->spans_[index] = {static_cast<uint32_t>(first), static_cast<uint32_t>(elements)};
    self->nodes_.resize(first + static_cast<size_t>(elements));
    self->spans_.resize(first + static_cast<size_t>(elements), {0, 0});
    return token;
}

void* RespReader::create_integer(const redisReadTask* task, long long value) {
    auto* self = static_cast<RespReader*>(task->privdata);
    if (!self->charge(kNodeCost)) return nullptr;
    void* token = nullptr;
    RespValue* v = self->place(task, &token);
    v->type = RespType::integer;
    v->integer = value;
    return token;
}

void* RespReader::create_nil(const redisReadTask* task) {
    auto* self = static_cast<RespReader*>(task->privdata);
    if (!self->charge(kNodeCost)) return nullptr;
    void* token = nullptr;
    RespValue* v = self->place(task, &token);
    v->type = RespType::nil;
    return token;
}

}  // namespace wsgate::broker
