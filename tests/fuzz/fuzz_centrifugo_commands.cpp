// libFuzzer target for the Centrifugo command parser. The input is one
// WebSocket message (commands separated by '\n'). Checks that:
// - parsing an exact-size copy (start_copied: AddressSanitizer sees any read
//   past the end) and a padded frame (start_padded) gives the same commands;
// - every view of the padded parse lies inside the frame, and `data` is one
//   valid JSON value by an independent grammar check (what a hub relays to
//   every subscriber);
// - a publication push built from a parsed publish is valid JSON;
// - a token that reaches the JWT verifier never crashes it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "../unit/json_reference.hpp"
#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/jwt_hs256.hpp"

namespace {

using namespace wsgate::proto;
using namespace wsgate::proto::centrifugo;

constexpr size_t kMaxCommand = 1 << 16;

bool inside(std::string_view view, const char* begin, const char* end) {
    return view.empty() || (view.data() >= begin && view.data() + view.size() <= end);
}

// The independent RFC 8259 grammar, not simdjson: data is relayed as JSON
// text, whatever magnitude its numbers have.
bool valid_json(std::string_view text) {
    return wsgate::test::JsonReference::valid(text);
}

bool same(const Command& a, const Command& b) {
    return a.method == b.method && a.id == b.id && a.channel == b.channel && a.token == b.token &&
           a.data == b.data && a.epoch == b.epoch && a.offset == b.offset &&
           a.recover == b.recover && a.has_since == b.has_since && a.limit == b.limit &&
           a.has_limit == b.has_limit && a.reverse == b.reverse && a.type == b.type &&
           a.rpc_method == b.rpc_method && a.name == b.name && a.version == b.version;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static CommandParser copied(kMaxCommand);
    static CommandParser padded(kMaxCommand);
    static jwt::TokenVerifier verifier("fuzz-secret");

    std::vector<char> exact(data, data + size);
    std::vector<char> frame(size + kCommandPadding, '\x7f');
    if (size > 0) std::memcpy(frame.data(), data, size);
    const char* begin = frame.data();
    const char* end = frame.data() + size;

    copied.start_copied(std::string_view(exact.data(), exact.size()));
    padded.start_padded(std::string_view(begin, size), frame.size());
    for (;;) {
        Command a;
        Command b;
        ParseStatus sa = copied.next(a);
        ParseStatus sb = padded.next(b);
        if (sa != sb) std::abort();
        if (sa == ParseStatus::bad_request && copied.error() != padded.error()) std::abort();
        if (sa != ParseStatus::command) break;
        if (!same(a, b)) std::abort();
        // Escaped strings are unescaped into the parser: only data and
        // unescaped strings are views of the frame, and data always is.
        if (!inside(b.data, begin, end)) std::abort();
        if (!b.data.empty() && !valid_json(b.data)) std::abort();
        if (b.method == Method::publish) {
            Publication pub{b.data, 1, nullptr};
            std::vector<char> out(publication_push_bound(b.channel, pub));
            JsonOut json(out);
            write_publication_push(json, b.channel, pub);
            if (!json.ok() || !valid_json(json.view())) std::abort();
        }
        if (!b.token.empty()) {
            jwt::Claims claims;
            (void)verifier.verify(b.token, 0, claims);
        }
    }
    return 0;
}
