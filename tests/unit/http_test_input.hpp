// Shared helpers for the handshake tests: the recorded Chromium request and
// parsing an input placed at a guard page.
#pragma once

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "guard_page.hpp"
#include "proto/http_request.hpp"

namespace wsgate::test {

inline std::string read_test_file(const std::string& name) {
    std::ifstream in(std::string(WSGATE_TEST_DATA) + "/" + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string chromium_request() {
    return read_test_file("chromium-156-upgrade-request.bin");
}

// The input lives in a GuardedBuffer that outlives the views in `request`.
struct GuardedParse {
    std::unique_ptr<GuardedBuffer> buffer;
    proto::HttpRequest request;
    proto::HttpParseResult result;
};

inline GuardedParse parse_guarded(std::string_view input, const proto::HttpLimits& limits = {},
                                  size_t scanned = 0) {
    GuardedParse p;
    p.buffer = std::make_unique<GuardedBuffer>(input);
    p.result =
        proto::parse_http_request(p.buffer->chars(), p.buffer->size(), scanned, p.request, limits);
    return p;
}

}  // namespace wsgate::test
