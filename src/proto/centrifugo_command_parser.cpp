#include "proto/centrifugo_command_parser.hpp"

#include <bit>
#include <cstring>
#include <limits>

#include "proto/json_field_reader.hpp"

namespace wsgate::proto::centrifugo {

static_assert(kCommandPadding == simdjson::SIMDJSON_PADDING);

namespace {

namespace od = simdjson::ondemand;

// Below this the parser's buffers are not shrunk or grown: a typical command
// is a few hundred bytes.
constexpr size_t kInitialCapacity = 4096;

struct MethodKey {
    std::string_view key;
    Method method;
};
constexpr MethodKey kMethodKeys[] = {
    {"connect", Method::connect},
    {"subscribe", Method::subscribe},
    {"unsubscribe", Method::unsubscribe},
    {"publish", Method::publish},
    {"presence", Method::presence},
    {"presence_stats", Method::presence_stats},
    {"history", Method::history},
    {"ping", Method::ping},
    {"send", Method::send},
    {"rpc", Method::rpc},
    {"refresh", Method::refresh},
    {"sub_refresh", Method::sub_refresh},
};

bool find_method(std::string_view key, Method& out) {
    for (const MethodKey& m : kMethodKeys) {
        if (m.key == key) {
            out = m.method;
            return true;
        }
    }
    return false;
}

// Reads one command object. Every field is read or walked, so the whole
// command is validated; unknown fields are ignored as Centrifugo's decoder
// ignores them (and so are requests of a newer protocol inside a known one).
class CommandReader : json::FieldReader<ParseError> {
  public:
    // A request's fields are at depth 3: command object, request object, field.
    CommandReader(od::document& doc, std::string_view line, Command& out)
        : FieldReader(doc, kMaxJsonDepth, 3, ParseError::malformed_json, ParseError::wrong_type),
          line_(json::trim_right(line)),
          out_(out) {}

    ParseError read() {
        od::object root;
        od::json_type type;
        if (doc_.type().get(type) != simdjson::SUCCESS) return ParseError::malformed_json;
        if (type != od::json_type::object) {
            return root_is_json(type, line_.data() + line_.size()) ? ParseError::not_an_object
                                                                   : ParseError::malformed_json;
        }
        if (doc_.get_object().get(root) != simdjson::SUCCESS) return ParseError::malformed_json;
        bool have_method = false;
        for (auto field_result : root) {
            od::field field;
            std::string_view key;
            if (std::move(field_result).get(field) != simdjson::SUCCESS ||
                field.unescaped_key().get(key) != simdjson::SUCCESS) {
                return ParseError::malformed_json;
            }
            od::value value = field.value();
            Method method;
            bool ok = true;
            if (key == "id") {
                ok = read_integer(value, out_.id, 2);
            } else if (find_method(key, method)) {
                // `"connect":null` is an absent request, as in Go's decoder.
                if (json::is_null(value)) continue;
                if (have_method) {
                    ok = wrong(ParseError::several_methods) && skip(value, 2);
                } else {
                    have_method = true;
                    out_.method = method;
                    ok = read_request(value);
                }
            } else {
                ok = skip(value, 2);
            }
            if (!ok) return error();
        }
        // Bytes after the command object (`{...} x`, `{}{}`): the document
        // iterator has not reached its end.
        if (doc_.current_location().error() != simdjson::OUT_OF_BOUNDS) {
            return ParseError::malformed_json;
        }
        // Only a command that is JSON all through gets a more specific
        // verdict: the first problem found is not always the one reported,
        // so the verdict does not depend on where the walk noticed it.
        if (walk_.too_deep) return ParseError::too_deep;
        if (semantic() != ParseError::none) return semantic();
        return check_required(have_method);
    }

  private:
    ParseError check_required(bool have_method) const {
        if (!have_method) {
            // `{}` (or only unknown fields) without an id: the pong. With an
            // id it asked for something this server does not know.
            return out_.id == 0 ? ParseError::none : ParseError::no_method;
        }
        if (out_.id == 0 && out_.method != Method::send) return ParseError::missing_id;
        switch (out_.method) {
            case Method::subscribe:
            case Method::unsubscribe:
            case Method::presence:
            case Method::presence_stats:
            case Method::history:
            case Method::sub_refresh:
                if (out_.channel.empty()) return ParseError::missing_channel;
                break;
            case Method::publish:
                if (out_.channel.empty()) return ParseError::missing_channel;
                if (out_.data.empty()) return ParseError::missing_data;
                break;
            case Method::refresh:
                if (out_.token.empty()) return ParseError::missing_token;
                break;
            default:
                break;
        }
        return ParseError::none;
    }

    // `since` of history: {"offset":N,"epoch":"..."}.
    bool read_position(od::value value) {
        if (!json::is_null(value)) out_.has_since = true;
        return read_object(value, 3, [&](std::string_view key, od::value v) {
            if (key == "offset") return read_integer(v, out_.offset, 4);
            if (key == "epoch") return read_string(v, out_.epoch, 4);
            return skip(v, 4);
        });
    }

    // One field of the request object of out_.method.
    bool read_request_field(std::string_view key, od::value v) {
        switch (out_.method) {
            case Method::connect:
                if (key == "token") return read_string(v, out_.token);
                if (key == "data") return read_raw(v, out_.data);
                if (key == "name") return read_string(v, out_.name);
                if (key == "version") return read_string(v, out_.version);
                break;
            case Method::subscribe:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "token") return read_string(v, out_.token);
                if (key == "recover") return read_bool(v, out_.recover);
                if (key == "epoch") return read_string(v, out_.epoch);
                if (key == "offset") return read_integer(v, out_.offset);
                if (key == "data") return read_raw(v, out_.data);
                if (key == "positioned") return read_bool(v, out_.positioned);
                if (key == "recoverable") return read_bool(v, out_.recoverable);
                if (key == "join_leave") return read_bool(v, out_.join_leave);
                if (key == "delta") return read_string(v, out_.delta);
                if (key == "type") return read_integer(v, out_.type);
                break;
            case Method::publish:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "data") return read_raw(v, out_.data);
                if (key == "type") return read_integer(v, out_.type);
                break;
            case Method::unsubscribe:
            case Method::presence:
            case Method::presence_stats:
                if (key == "channel") return read_string(v, out_.channel);
                break;
            case Method::history:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "limit") {
                    out_.has_limit = !json::is_null(v);
                    return read_integer(v, out_.limit);
                }
                if (key == "since") return read_position(v);
                if (key == "reverse") return read_bool(v, out_.reverse);
                break;
            case Method::send:
                if (key == "data") return read_raw(v, out_.data);
                break;
            case Method::rpc:
                if (key == "data") return read_raw(v, out_.data);
                if (key == "method") return read_string(v, out_.rpc_method);
                break;
            case Method::refresh:
                if (key == "token") return read_string(v, out_.token);
                break;
            case Method::sub_refresh:
                if (key == "channel") return read_string(v, out_.channel);
                if (key == "token") return read_string(v, out_.token);
                break;
            case Method::ping:
            case Method::pong:
                break;
        }
        return skip(v, 3);
    }

    bool read_request(od::value value) {
        return read_object(value, 2, [&](std::string_view key, od::value v) {
            return read_request_field(key, v);
        });
    }

    std::string_view line_;
    Command& out_;
};

bool is_blank(std::string_view line) {
    for (char c : line) {
        if (!json::is_json_whitespace(c)) return false;
    }
    return true;
}

}  // namespace

std::string_view method_key(Method method) {
    for (const MethodKey& m : kMethodKeys) {
        if (m.method == method) return m.key;
    }
    return "";
}

std::string_view parse_error_text(ParseError error) {
    switch (error) {
        case ParseError::none:
            return "no error";
        case ParseError::malformed_json:
            return "malformed JSON";
        case ParseError::not_an_object:
            return "command is not a JSON object";
        case ParseError::too_deep:
            return "JSON nested too deep";
        case ParseError::too_large:
            return "command too large";
        case ParseError::wrong_type:
            return "field of the wrong type";
        case ParseError::no_method:
            return "unknown method";
        case ParseError::several_methods:
            return "several methods in one command";
        case ParseError::missing_id:
            return "command without id";
        case ParseError::missing_channel:
            return "channel required";
        case ParseError::missing_data:
            return "data required";
        case ParseError::missing_token:
            return "token required";
    }
    return "bad request";
}

struct CommandParser::Json {
    od::parser parser;
    size_t capacity = 0;
};

CommandParser::CommandParser(size_t max_command_bytes)
    : json_(std::make_unique<Json>()), max_command_bytes_(max_command_bytes) {}

CommandParser::~CommandParser() = default;

void CommandParser::start_padded(std::string_view frame, size_t readable) {
    pos_ = frame.data();
    end_ = frame.data() + frame.size();
    readable_end_ = frame.data() + readable;
    error_ = ParseError::none;
}

void CommandParser::start_copied(std::string_view frame) {
    size_t need = frame.size() + kCommandPadding;
    if (need > copy_capacity_) {
        copy_capacity_ = std::bit_ceil(std::max(need, kInitialCapacity));
        copy_ = std::make_unique<char[]>(copy_capacity_);
    }
    if (!frame.empty()) std::memcpy(copy_.get(), frame.data(), frame.size());
    // Padding of spaces: what simdjson reads there changes no verdict (the
    // parser's contract), but a fixed value keeps runs reproducible.
    std::memset(copy_.get() + frame.size(), ' ', kCommandPadding);
    start_padded(std::string_view(copy_.get(), frame.size()), copy_capacity_);
}

ParseStatus CommandParser::next(Command& out) {
    while (pos_ != nullptr && pos_ < end_) {
        const void* nl = std::memchr(pos_, '\n', static_cast<size_t>(end_ - pos_));
        const char* line_end = nl ? static_cast<const char*>(nl) : end_;
        std::string_view line(pos_, static_cast<size_t>(line_end - pos_));
        pos_ = nl ? line_end + 1 : end_;
        if (is_blank(line)) continue;

        out = Command{};
        if (line.size() > max_command_bytes_) {
            error_ = ParseError::too_large;
        } else {
            if (line.size() > json_->capacity) {
                // Grown by doubling, never past the limit: allocation happens
                // only for a command larger than any before it.
                size_t capacity = std::min(std::bit_ceil(std::max(line.size(), kInitialCapacity)),
                                           std::max(max_command_bytes_, line.size()));
                if (json_->parser.allocate(capacity, kMaxJsonDepth) != simdjson::SUCCESS) {
                    error_ = ParseError::too_large;
                    pos_ = end_;
                    return ParseStatus::bad_request;
                }
                json_->capacity = capacity;
            }
            od::document doc;
            size_t readable = static_cast<size_t>(readable_end_ - line.data());
            if (json_->parser.iterate(line.data(), line.size(), readable).get(doc) !=
                simdjson::SUCCESS) {
                error_ = ParseError::malformed_json;
            } else {
                error_ = CommandReader(doc, line, out).read();
            }
        }
        if (error_ != ParseError::none) {
            pos_ = end_;
            return ParseStatus::bad_request;
        }
        return ParseStatus::command;
    }
    return ParseStatus::end_of_frame;
}

}  // namespace wsgate::proto::centrifugo
