// Parses the commands of one WebSocket text message of the Centrifugo client
// protocol (JSON encoding): commands separated by '\n', each one JSON object
// (centrifugal.dev "Client protocol": "several commands in one frame,
// separated by a new line"; npm centrifuge's JsonCodec joins with '\n').
//
// Every malformed command is answered the way Centrifugo answers it: the
// connection is closed with disconnect code 3501 "bad request" (centrifuge's
// client.go dispatchCommand and the request handlers return
// DisconnectBadRequest for undecodable JSON, a command without a known
// request, a command other than send without an id, and a missing channel).
// ParseError says which of those it was, for the one log line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "proto/centrifugo_command.hpp"

namespace wsgate::proto::centrifugo {

// Bytes that must be readable after a frame handed to start_padded (their
// value does not matter): the SIMD parser reads whole 64-byte blocks
// (simdjson's SIMDJSON_PADDING; a static_assert in the .cpp keeps them equal).
inline constexpr size_t kCommandPadding = 64;

// Deepest nesting accepted anywhere in a command, the command object itself
// being depth 1. Go's encoding/json allows 10000; 64 is ample for any
// publication and keeps the validating walk's recursion small.
inline constexpr int kMaxJsonDepth = 64;

enum class ParseError : uint8_t {
    none,
    malformed_json,   // not JSON (RFC 8259), or not valid UTF-8, or trailing bytes
    not_an_object,    // a line that is JSON but not an object
    too_deep,         // nesting deeper than kMaxJsonDepth
    too_large,        // a command longer than the parser's limit
    wrong_type,       // a known field with a value of the wrong JSON type or range
    no_method,        // an id but no request this server knows (e.g. "foo":{})
    several_methods,  // two requests in one command
    missing_id,       // a request other than send without an id
    missing_channel,  // a channel request without a channel
    missing_data,     // publish without data
    missing_token,    // refresh without a token
};

// A short phrase for logs ("malformed JSON", "command without id", ...).
std::string_view parse_error_text(ParseError error);

enum class ParseStatus : uint8_t {
    command,       // `out` holds the next command
    end_of_frame,  // no command left in the frame
    bad_request,   // the next command is malformed: error() says how; the rest
                   // of the frame is dropped (the connection is to be closed
                   // with DisconnectCode::bad_request)
};

class CommandParser {
  public:
    // Commands longer than max_command_bytes are refused (too_large). The
    // parser's buffers start small and grow to the largest command seen,
    // doubling, so a stream of commands of similar size allocates nothing.
    explicit CommandParser(size_t max_command_bytes);
    ~CommandParser();
    CommandParser(const CommandParser&) = delete;
    CommandParser& operator=(const CommandParser&) = delete;

    // Starts on `frame` without copying it: `readable` bytes from
    // frame.data() on may be read, and must be at least frame.size() +
    // kCommandPadding. The frame must stay untouched while its commands are
    // used.
    void start_padded(std::string_view frame, size_t readable);

    // Starts on `frame` after copying it into the parser's own padded buffer,
    // for callers that cannot promise padding. Views point into that copy.
    void start_copied(std::string_view frame);

    // Parses the next command of the frame into `out` (reset first). Blank
    // lines are skipped. Views into the frame (data, and strings without
    // escapes) stay valid as long as the frame; strings that held escapes are
    // unescaped into the parser and stay valid until the next call to next()
    // or start_*(): handle a command before asking for the next one.
    ParseStatus next(Command& out);

    ParseError error() const { return error_; }

  private:
    struct Json;  // the simdjson parser, kept out of this header
    std::unique_ptr<Json> json_;
    size_t max_command_bytes_;
    const char* pos_ = nullptr;
    const char* end_ = nullptr;
    const char* readable_end_ = nullptr;
    std::unique_ptr<char[]> copy_;
    size_t copy_capacity_ = 0;
    ParseError error_ = ParseError::none;
};

}  // namespace wsgate::proto::centrifugo
