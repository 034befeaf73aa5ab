#include "proto/centrifugo_api.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "proto/centrifugo_command_parser.hpp"
#include "proto/json_field_reader.hpp"

namespace wsgate::proto::centrifugo {

namespace {

namespace od = simdjson::ondemand;

// Below this the parser's buffers are not grown: a typical API body is a
// few hundred bytes.
constexpr size_t kInitialCapacity = 4096;
constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

struct MethodName {
    std::string_view name;
    ApiMethod method;
};
constexpr MethodName kMethodNames[] = {
    {"publish", ApiMethod::publish},         {"broadcast", ApiMethod::broadcast},
    {"history", ApiMethod::history},         {"presence_stats", ApiMethod::presence_stats},
    {"unsubscribe", ApiMethod::unsubscribe}, {"disconnect", ApiMethod::disconnect},
    {"channels", ApiMethod::channels},       {"info", ApiMethod::info},
};

const char* end_of(std::string_view s) {
    return s.data() + s.size();
}

// Reads one request object of a known method. Every value is read or
// walked, so a body is accepted only if it is JSON all through.
class RequestReader : json::FieldReader<ApiParseError> {
  public:
    // body: the document's bytes (without the padding).
    RequestReader(od::document& doc, std::string_view body, ApiRequest& out,
                  std::vector<std::string_view>& channels)
        : FieldReader(doc, kMaxJsonDepth, 2, ApiParseError::malformed_json,
                      ApiParseError::wrong_type),
          text_end_(end_of(json::trim_right(body))),
          out_(out),
          channels_(channels) {}

    ApiParseError read() {
        od::json_type type;
        if (doc_.type().get(type) != simdjson::SUCCESS) return ApiParseError::malformed_json;
        if (type != od::json_type::object) {
            return root_is_json(type, text_end_) ? ApiParseError::not_an_object
                                                 : ApiParseError::malformed_json;
        }
        od::object root;
        if (doc_.get_object().get(root) != simdjson::SUCCESS) return ApiParseError::malformed_json;
        for (auto field_result : root) {
            od::field field;
            std::string_view key;
            if (std::move(field_result).get(field) != simdjson::SUCCESS ||
                field.unescaped_key().get(key) != simdjson::SUCCESS) {
                return ApiParseError::malformed_json;
            }
            if (!read_field(key, field.value())) return error();
        }
        // Bytes after the object (`{} x`, `{}{}`): the iterator is not at its end.
        if (doc_.current_location().error() != simdjson::OUT_OF_BOUNDS) {
            return ApiParseError::malformed_json;
        }
        if (walk_.too_deep) return ApiParseError::too_deep;
        if (semantic() != ApiParseError::none) return semantic();
        out_.channels = channels_;
        return check_required();
    }

  private:
    ApiParseError check_required() const {
        switch (out_.method) {
            case ApiMethod::publish:
                if (out_.channel.empty()) return ApiParseError::missing_channel;
                if (out_.data.empty()) return ApiParseError::missing_data;
                break;
            case ApiMethod::broadcast:
                if (out_.channels.empty()) return ApiParseError::missing_channels;
                if (out_.data.empty()) return ApiParseError::missing_data;
                break;
            case ApiMethod::history:
            case ApiMethod::presence_stats:
                if (out_.channel.empty()) return ApiParseError::missing_channel;
                break;
            case ApiMethod::unsubscribe:
                if (out_.channel.empty()) return ApiParseError::missing_channel;
                if (out_.user.empty()) return ApiParseError::missing_user;
                break;
            case ApiMethod::disconnect:
                if (out_.user.empty()) return ApiParseError::missing_user;
                break;
            case ApiMethod::channels:
            case ApiMethod::info:
            case ApiMethod::unknown:
                break;
        }
        return ApiParseError::none;
    }

    bool read_field(std::string_view key, od::value v) {
        switch (out_.method) {
            case ApiMethod::publish:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "data") return read_data(v, out_.data);
                if (key == "skip_history") return read_bool(v, out_.skip_history);
                break;
            case ApiMethod::broadcast:
                if (key == "channels") return read_channels(v);
                if (key == "data") return read_data(v, out_.data);
                if (key == "skip_history") return read_bool(v, out_.skip_history);
                break;
            case ApiMethod::history:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "limit") {
                    out_.has_limit = !json::is_null(v);
                    return read_integer(v, out_.limit);
                }
                if (key == "since") return read_position(v);
                if (key == "reverse") return read_bool(v, out_.reverse);
                break;
            case ApiMethod::presence_stats:
                if (key == "channel") return read_string(v, out_.channel);
                break;
            case ApiMethod::unsubscribe:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "user") return read_string(v, out_.user);
                if (key == "client") return read_string(v, out_.client);
                break;
            case ApiMethod::disconnect:
                if (key == "user") return read_string(v, out_.user);
                if (key == "client") return read_string(v, out_.client);
                if (key == "disconnect") return read_disconnect(v);
                break;
            case ApiMethod::channels:
                if (key == "pattern") return read_string(v, out_.pattern);
                break;
            case ApiMethod::info:
            case ApiMethod::unknown:
                break;
        }
        return skip(v, 2);
    }

    // `data` is relayed as it came, null included: Centrifugo decodes it
    // into a json.RawMessage, which keeps `null` as those four bytes and
    // publishes it (only an absent data is "bad request").
    bool read_data(od::value value, std::string_view& out) {
        return read_raw(value, out, /*keep_null=*/true);
    }

    // broadcast's `channels`: an array of strings.
    bool read_channels(od::value value) {
        if (json::is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::array) return wrong_type(value, 2);
        od::array array;
        if (value.get_array().get(array) != simdjson::SUCCESS) return malformed();
        for (auto element_result : array) {
            od::value element;
            if (std::move(element_result).get(element) != simdjson::SUCCESS) return malformed();
            od::json_type t;
            if (element.type().get(t) != simdjson::SUCCESS) return malformed();
            if (t != od::json_type::string) {
                if (!wrong_type(element, 3)) return false;
                continue;
            }
            std::string_view channel;
            if (!read_string(element, channel, 3)) return false;
            channels_.push_back(channel);
        }
        return true;
    }

    // history's `since`: {"offset":N,"epoch":"E"}.
    bool read_position(od::value value) {
        if (!json::is_null(value)) out_.has_since = true;
        return read_object(value, 2, [&](std::string_view key, od::value v) {
            if (key == "offset") return read_integer(v, out_.since_offset, 3);
            if (key == "epoch") return read_string(v, out_.since_epoch, 3);
            return skip(v, 3);
        });
    }

    // disconnect's `disconnect`: {"code":C,"reason":R}.
    bool read_disconnect(od::value value) {
        if (!json::is_null(value)) out_.has_disconnect = true;
        return read_object(value, 2, [&](std::string_view key, od::value v) {
            if (key == "code") return read_integer(v, out_.disconnect_code, 3);
            if (key == "reason") return read_string(v, out_.disconnect_reason, 3);
            return skip(v, 3);
        });
    }

    const char* text_end_;  // one past the body's last byte that is not whitespace
    ApiRequest& out_;
    std::vector<std::string_view>& channels_;
};

bool is_blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), json::is_json_whitespace);
}

void write_error_object(JsonOut& out, ErrorCode code) {
    out.raw(R"({"error":{"code":)");
    out.number(uint64_t{static_cast<uint16_t>(code)});
    out.raw(R"(,"message":)");
    out.string(error_info(code).message);
    out.raw("}}");
}

// `{"offset":N,"epoch":"E"}`, each only when set.
void write_position_object(JsonOut& out, uint64_t offset, std::string_view epoch) {
    out.raw('{');
    if (offset != 0) {
        out.raw(R"("offset":)");
        out.number(offset);
    }
    if (!epoch.empty()) {
        if (offset != 0) out.raw(',');
        out.raw(R"("epoch":)");
        out.string(epoch);
    }
    out.raw('}');
}

}  // namespace

ApiMethod api_method_of_target(std::string_view target) {
    constexpr std::string_view kPrefix = "/api/";
    if (target.substr(0, kPrefix.size()) != kPrefix) return ApiMethod::unknown;
    std::string_view name = target.substr(kPrefix.size());
    name = name.substr(0, name.find('?'));
    for (const MethodName& m : kMethodNames) {
        if (m.name == name) return m.method;
    }
    return ApiMethod::unknown;
}

std::string_view api_method_name(ApiMethod method) {
    for (const MethodName& m : kMethodNames) {
        if (m.method == method) return m.name;
    }
    return "";
}

std::string_view api_parse_error_text(ApiParseError error) {
    switch (error) {
        case ApiParseError::none:
            return "no error";
        case ApiParseError::malformed_json:
            return "malformed JSON";
        case ApiParseError::not_an_object:
            return "body is not a JSON object";
        case ApiParseError::too_deep:
            return "JSON nested too deep";
        case ApiParseError::too_large:
            return "body too large";
        case ApiParseError::wrong_type:
            return "field of the wrong type";
        case ApiParseError::missing_channel:
            return "channel required";
        case ApiParseError::missing_channels:
            return "channels required";
        case ApiParseError::missing_data:
            return "data required";
        case ApiParseError::missing_user:
            return "user required";
        case ApiParseError::unknown_method:
            return "unknown method";
    }
    return "bad request";
}

struct ApiParser::Json {
    od::parser parser;
    size_t capacity = 0;
};

ApiParser::ApiParser(size_t max_body_bytes)
    : json_(std::make_unique<Json>()), max_body_bytes_(max_body_bytes) {}

ApiParser::~ApiParser() = default;

ApiParseError ApiParser::parse(ApiMethod method, std::string_view body, ApiRequest& out) {
    out = ApiRequest{};
    out.method = method;
    channels_.clear();
    if (method == ApiMethod::unknown) return ApiParseError::unknown_method;
    if (body.size() > max_body_bytes_) return ApiParseError::too_large;
    if (is_blank(body)) body = "{}";
    // The body is copied into a padded buffer (simdjson reads whole 64-byte
    // blocks); the padding is spaces, so what it holds changes no verdict.
    size_t need = body.size() + kPadding;
    if (need > copy_capacity_) {
        copy_capacity_ = std::bit_ceil(std::max(need, kInitialCapacity));
        copy_ = std::make_unique<char[]>(copy_capacity_);
    }
    std::memcpy(copy_.get(), body.data(), body.size());
    std::memset(copy_.get() + body.size(), ' ', kPadding);
    if (body.size() > json_->capacity) {
        size_t capacity = std::min(std::bit_ceil(std::max(body.size(), kInitialCapacity)),
                                   std::max(max_body_bytes_, body.size()));
        if (json_->parser.allocate(capacity, kMaxJsonDepth) != simdjson::SUCCESS) {
            return ApiParseError::too_large;
        }
        json_->capacity = capacity;
    }
    od::document doc;
    if (json_->parser.iterate(copy_.get(), body.size(), copy_capacity_).get(doc) !=
        simdjson::SUCCESS) {
        return ApiParseError::malformed_json;
    }
    ApiParseError error =
        RequestReader(doc, std::string_view(copy_.get(), body.size()), out, channels_).read();
    if (error != ApiParseError::none) {
        ApiRequest reset;
        reset.method = method;
        out = reset;  // no half-read request escapes
    }
    return error;
}

void write_api_error(JsonOut& out, ErrorCode code) {
    write_error_object(out, code);
}

void write_api_empty_result(JsonOut& out) {
    out.raw(R"({"result":{}})");
}

void write_api_publish_result(JsonOut& out, uint64_t offset, std::string_view epoch) {
    out.raw(R"({"result":)");
    write_position_object(out, offset, epoch);
    out.raw('}');
}

void begin_api_broadcast_result(JsonOut& out) {
    out.raw(R"({"result":{"responses":[)");
}

void add_api_broadcast_published(JsonOut& out, uint64_t offset, std::string_view epoch) {
    if (out.last() != '[') out.raw(',');
    write_api_publish_result(out, offset, epoch);
}

void add_api_broadcast_error(JsonOut& out, ErrorCode code) {
    if (out.last() != '[') out.raw(',');
    write_error_object(out, code);
}

void end_api_broadcast_result(JsonOut& out) {
    out.raw("]}}");
}

void begin_api_history_result(JsonOut& out) {
    out.raw(R"({"result":{"publications":[)");
}

void end_api_history_result(JsonOut& out, uint64_t offset, std::string_view epoch) {
    out.raw(R"(],"offset":)");
    out.number(offset);
    out.raw(R"(,"epoch":)");
    out.string(epoch);
    out.raw("}}");
}

void write_api_presence_stats_result(JsonOut& out, uint32_t num_clients, uint32_t num_users) {
    out.raw(R"({"result":{"num_clients":)");
    out.number(uint64_t{num_clients});
    out.raw(R"(,"num_users":)");
    out.number(uint64_t{num_users});
    out.raw("}}");
}

void begin_api_channels_result(JsonOut& out) {
    out.raw(R"({"result":{"channels":{)");
}

void add_api_channel(JsonOut& out, std::string_view channel, uint32_t num_clients) {
    if (out.last() != '{') out.raw(',');
    out.string(channel);
    out.raw(R"(:{"num_clients":)");
    out.number(uint64_t{num_clients});
    out.raw('}');
}

void end_api_channels_result(JsonOut& out) {
    out.raw("}}}");
}

void write_api_info_result(JsonOut& out, const ApiNodeInfo& node) {
    out.raw(R"({"result":{"nodes":[{"uid":)");
    out.string(node.uid);
    out.raw(R"(,"name":)");
    out.string(node.name);
    out.raw(R"(,"version":)");
    out.string(node.version);
    out.raw(R"(,"num_clients":)");
    out.number(uint64_t{node.num_clients});
    out.raw(R"(,"num_users":)");
    out.number(uint64_t{node.num_users});
    out.raw(R"(,"num_channels":)");
    out.number(uint64_t{node.num_channels});
    out.raw(R"(,"uptime":)");
    out.number(uint64_t{node.uptime_seconds});
    out.raw(R"(,"num_subs":)");
    out.number(uint64_t{node.num_subs});
    out.raw("}]}}");
}

}  // namespace wsgate::proto::centrifugo
