// RESP (the Redis serialization protocol, RESP2) replies parsed with
// hiredis's redisReader, built into this reader's own arena instead of
// hiredis's malloc'd redisReply tree: the arena keeps its capacity, so a
// link parses reply after reply without allocating.
//
// Memory is bounded: bytes waiting for the rest of a reply, a reply's
// strings and its element count are all capped by max_reply_bytes; past the
// cap (a huge bulk string announced, a 10^9-element array) or on a protocol
// error the reader fails for good and the link is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;
struct redisReadTask;

namespace wsgate::broker {

enum class RespType : uint8_t { string, status, error, integer, nil, array };

// One value of a parsed reply. Strings point into the reader's arena: valid
// until the next next() call.
struct RespValue {
    RespType type = RespType::nil;
    int64_t integer = 0;
    std::string_view text;             // string, status, error
    const RespValue* items = nullptr;  // array elements, contiguous
    uint32_t count = 0;

    bool is_error() const { return type == RespType::error; }
    const RespValue& operator[](size_t i) const { return items[i]; }
    // A string or status equal to `s`.
    bool is(std::string_view s) const {
        return (type == RespType::string || type == RespType::status) && text == s;
    }
};

class RespReader {
  public:
    enum class Result { reply, need_more, failed };

    explicit RespReader(size_t max_reply_bytes);
    ~RespReader();
    RespReader(const RespReader&) = delete;
    RespReader& operator=(const RespReader&) = delete;

    // Takes received bytes (copied into hiredis's buffer). False: the reader
    // failed (what(): why), or the bytes waiting for a reply pass the cap.
    bool feed(std::string_view bytes);

    // The next complete reply (root()), need_more, or failed.
    Result next();
    const RespValue& root() const { return nodes_[0]; }

    // Why it failed (a protocol error, over the cap).
    std::string_view what() const { return what_; }

    // Forgets everything buffered (a new connection).
    void reset();

    // Bytes buffered, not yet part of a returned reply.
    size_t buffered() const;

  private:
    static void* create_string(const ::redisReadTask* task, char* str, size_t len);
    static void* create_array(const ::redisReadTask* task, int elements);
    static void* create_integer(const ::redisReadTask* task, long long value);
    static void* create_nil(const ::redisReadTask* task);
    static void free_object(void*) {}

    // The node a task fills: the root, or its slot in the parent's elements.
    RespValue* place(const ::redisReadTask* task, void** token);
    bool charge(size_t bytes);
    void fail(std::string_view why);
    void open_reader();

    redisReader* reader_ = nullptr;
    size_t max_reply_bytes_;
    size_t charged_ = 0;  // bytes of the reply being built (strings + nodes)
    std::vector<RespValue> nodes_;
    std::vector<char> text_;  // strings of the reply being built
    // Strings are first recorded as offsets in text_ (it may grow), then
    // turned into views once the reply is complete.
    std::vector<std::pair<uint32_t, uint32_t>> spans_;  // per node: (offset, length)
    std::string what_;
    bool complete_ = false;  // root() is a whole reply, handed out
    bool failed_ = false;
};

}  // namespace wsgate::broker
