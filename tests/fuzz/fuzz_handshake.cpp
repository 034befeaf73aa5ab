// Fuzzes the handshake parser: the input is parsed whole and in two pieces
// (the split point and the limits come from the first bytes of the input);
// both must agree. Complete requests go through validate_upgrade,
// parse_extension_offers and the response writers, and every view must lie
// inside the input. Inputs are copied into exact-size heap blocks so ASan
// catches any read past the end.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "proto/accept_key.hpp"
#include "proto/extension_offer.hpp"
#include "proto/http_request.hpp"
#include "proto/http_response.hpp"
#include "proto/http_token.hpp"
#include "proto/upgrade_request.hpp"

namespace {

using namespace wsgate::proto;

constexpr size_t kControlBytes = 3;  // split point (2 bytes), limits selector (1 byte)
constexpr size_t kSmallLimitStep = 8;

void check(bool ok) {
    if (!ok) std::abort();
}

void check_inside(std::string_view v, const char* begin, size_t len) {
    if (v.empty()) return;
    check(v.data() >= begin && v.data() + v.size() <= begin + len);
}

bool same_result(const HttpParseResult& a, const HttpParseResult& b) {
    return a.status == b.status && a.consumed == b.consumed && a.http_status == b.http_status &&
           a.reason == b.reason;
}

void check_same_request(const HttpRequest& a, const char* a_buf, const HttpRequest& b,
                        const char* b_buf) {
    auto same_view = [&](std::string_view x, std::string_view y) {
        check(x == y);
        check(x.empty() || x.data() - a_buf == y.data() - b_buf);
    };
    same_view(a.method, b.method);
    same_view(a.target, b.target);
    check(a.minor_version == b.minor_version);
    check(a.header_count == b.header_count);
    for (size_t i = 0; i < a.header_count; ++i) {
        same_view(a.headers[i].name, b.headers[i].name);
        same_view(a.headers[i].value, b.headers[i].value);
    }
}

// The parser's known-header line sets agree with comparing every name.
void check_known_headers(const HttpRequest& req) {
    constexpr std::pair<KnownHeader, std::string_view> kNames[] = {
        {KnownHeader::host, "host"},
        {KnownHeader::upgrade, "upgrade"},
        {KnownHeader::connection, "connection"},
        {KnownHeader::origin, "origin"},
        {KnownHeader::sec_websocket_key, "sec-websocket-key"},
        {KnownHeader::sec_websocket_version, "sec-websocket-version"},
        {KnownHeader::sec_websocket_protocol, "sec-websocket-protocol"},
        {KnownHeader::sec_websocket_extensions, "sec-websocket-extensions"},
    };
    for (const auto& [id, name] : kNames) {
        HeaderLineSet expected = 0;
        for (size_t i = 0; i < req.header_count; ++i) {
            if (ascii_iequals(req.headers[i].name, name)) expected |= HeaderLineSet{1} << i;
        }
        check(req.lines(id) == expected);
    }
}

void check_complete(const HttpRequest& req, const char* buf, size_t len) {
    check_known_headers(req);
    check_inside(req.method, buf, len);
    check_inside(req.target, buf, len);
    check(req.header_count <= kMaxHttpHeaders);
    for (size_t i = 0; i < req.header_count; ++i) {
        check(!req.headers[i].name.empty());
        check_inside(req.headers[i].name, buf, len);
        check_inside(req.headers[i].value, buf, len);
    }

    ExtensionOffers offers;
    if (parse_extension_offers(req, offers)) {
        check(offers.count <= kMaxExtensionOffers);
        for (size_t i = 0; i < offers.count; ++i) {
            const ExtensionOffer& o = offers.offers[i];
            check(!o.name.empty() && o.param_count <= kMaxExtensionParams);
            check_inside(o.name, buf, len);
            for (size_t j = 0; j < o.param_count; ++j) {
                check_inside(o.params[j].name, buf, len);
                check_inside(o.params[j].value, buf, len);
                check(!o.params[j].has_value || !o.params[j].value.empty());
            }
        }
    }

    static char out[kDefaultMaxHeaderBytes + 512];  // a 101 echoing any protocol value fits
    UpgradeRequest up;
    HandshakeError e = validate_upgrade(req, up);
    if (e.status == 0) {
        check(is_upgrade_request(req));
        check(is_valid_websocket_key(up.key));
        for (std::string_view v : {up.target, up.host, up.origin, up.key, up.protocols}) {
            check_inside(v, buf, len);
        }
        size_t n = write_upgrade_response(out, sizeof(out), up.key, up.protocols);
        // protocols is a header value: it cannot hold CR or LF, so this succeeds.
        check(n > 0 && std::string_view(out, n).ends_with("\r\n\r\n"));
    } else {
        check(e.status >= 400 && e.status < 500 && !e.reason.empty());
        check(write_http_error(out, sizeof(out), e.status, e.reason) > 0);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < kControlBytes) return 0;
    size_t len = size - kControlBytes;
    size_t split = (size_t{data[0]} | size_t{data[1]} << 8) % (len + 1);
    HttpLimits limits;
    if (data[2] & 1) {
        limits.max_header_bytes = (data[2] >> 1) * kSmallLimitStep;
        limits.max_headers = data[2] >> 4;
    }

    std::unique_ptr<char[]> whole(new char[len]);
    std::memcpy(whole.get(), data + kControlBytes, len);
    HttpRequest whole_req;
    HttpParseResult whole_res = parse_http_request(whole.get(), len, 0, whole_req, limits);
    if (whole_res.status == ParseStatus::error) {
        check(whole_res.http_status >= 400 && !whole_res.reason.empty());
    }
    if (whole_res.status == ParseStatus::need_more) check(len <= limits.max_header_bytes);
    if (whole_res.status == ParseStatus::complete) {
        check(whole_res.consumed >= 4 && whole_res.consumed <= len);
        check(whole_res.consumed <= limits.max_header_bytes);
        check(std::string_view(whole.get() + whole_res.consumed - 4, 4) == "\r\n\r\n");
        check_complete(whole_req, whole.get(), len);
    }

    // The same bytes in two pieces: a prefix in its own exact-size block, then all.
    std::unique_ptr<char[]> prefix(new char[split]);
    if (split > 0) std::memcpy(prefix.get(), data + kControlBytes, split);
    HttpRequest part_req;
    HttpParseResult part_res = parse_http_request(prefix.get(), split, 0, part_req, limits);
    if (part_res.status != ParseStatus::need_more) {
        check(same_result(part_res, whole_res));
        if (part_res.status == ParseStatus::complete) {
            check_same_request(part_req, prefix.get(), whole_req, whole.get());
        }
        return 0;
    }
    HttpRequest rest_req;
    HttpParseResult rest_res = parse_http_request(whole.get(), len, split, rest_req, limits);
    check(same_result(rest_res, whole_res));
    if (rest_res.status == ParseStatus::complete) {
        check_same_request(rest_req, whole.get(), whole_req, whole.get());
    }
    return 0;
}
