// libFuzzer target for the server HTTP API body parser and writers. The
// input's first byte picks the method, the rest is the request body.
// Checks that:
// - a parser reused across inputs (buffers grown by earlier bodies, the
//   broadcast list reused) gives the same verdict and fields as a fresh one;
// - an accepted body is JSON by an independent grammar check (RFC 8259), and
//   so is its `data` (what the hub relays to every subscriber);
// - the result bodies built from what was parsed are valid JSON and fit
//   their documented bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "../unit/json_reference.hpp"
#include "proto/centrifugo_api.hpp"

namespace {

using namespace wsgate::proto;
using namespace wsgate::proto::centrifugo;

constexpr size_t kMaxBody = 1 << 16;

bool valid_json(std::string_view text) {
    return wsgate::test::JsonReference::valid(text);
}

bool same(const ApiRequest& a, const ApiRequest& b) {
    if (a.channels.size() != b.channels.size()) return false;
    for (size_t i = 0; i < a.channels.size(); ++i) {
        if (a.channels[i] != b.channels[i]) return false;
    }
    return a.method == b.method && a.channel == b.channel && a.data == b.data &&
           a.skip_history == b.skip_history && a.user == b.user && a.client == b.client &&
           a.pattern == b.pattern && a.limit == b.limit && a.has_limit == b.has_limit &&
           a.has_since == b.has_since && a.since_offset == b.since_offset &&
           a.since_epoch == b.since_epoch && a.reverse == b.reverse &&
           a.has_disconnect == b.has_disconnect && a.disconnect_code == b.disconnect_code &&
           a.disconnect_reason == b.disconnect_reason;
}

void check_written(std::vector<char>& buffer, size_t bound, auto&& write) {
    buffer.assign(bound, '\0');
    JsonOut out(buffer);
    write(out);
    if (!out.ok() || !valid_json(out.view())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static ApiParser reused(kMaxBody);
    static std::vector<char> buffer;
    if (size == 0) return 0;
    const auto method = static_cast<ApiMethod>(data[0] % 9);  // unknown .. info
    // An exact-size copy: AddressSanitizer sees any read past the body.
    std::vector<char> body(data + 1, data + size);
    std::string_view text(body.data(), body.size());

    ApiParser fresh(kMaxBody);
    ApiRequest a;
    ApiRequest b;
    ApiParseError ea = fresh.parse(method, text, a);
    ApiParseError eb = reused.parse(method, text, b);
    if (ea != eb || !same(a, b)) std::abort();
    if (ea != ApiParseError::none) return 0;

    bool blank = text.find_first_not_of(" \t\r\n") == std::string_view::npos;
    if (!blank && !valid_json(text)) std::abort();
    if (!a.data.empty() && !valid_json(a.data)) std::abort();
    // Strings come out of the parser as UTF-8: any of them can be written back.
    check_written(buffer, api_publish_result_bound(a.channel),
                  [&](JsonOut& out) { write_api_publish_result(out, a.since_offset, a.channel); });
    size_t channels_bound = kApiFixedResultBytes;
    for (std::string_view c : a.channels)
        channels_bound += api_channel_bound(c);
    check_written(buffer, channels_bound, [&](JsonOut& out) {
        begin_api_channels_result(out);
        for (std::string_view c : a.channels)
            add_api_channel(out, c, 1);
        end_api_channels_result(out);
    });
    ApiNodeInfo node{a.user, a.client, a.pattern, 1, 2, 3, 4, 5};
    check_written(buffer, api_info_result_bound(node),
                  [&](JsonOut& out) { write_api_info_result(out, node); });
    return 0;
}
