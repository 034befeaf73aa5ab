#include "proto/centrifugo_command_parser.hpp"

#include <bit>
#include <cstring>
#include <limits>

#include "proto/json_walk.hpp"

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
class CommandReader {
  public:
    CommandReader(od::document& doc, std::string_view line, Command& out)
        : doc_(doc), line_(json::trim_right(line)), out_(out) {}

    ParseError read() {
        od::object root;
        od::json_type type;
        if (doc_.type().get(type) != simdjson::SUCCESS) return ParseError::malformed_json;
        if (type != od::json_type::object) return classify_non_object(type);
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
                ok = read_u32(value, out_.id);
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
            if (!ok) return error_;
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
        if (semantic_ != ParseError::none) return semantic_;
        return check_required(have_method);
    }

  private:
    // A line that is not an object: valid JSON of another type, or not JSON.
    ParseError classify_non_object(od::json_type type) {
        bool valid = false;
        std::string_view token;
        if (type == od::json_type::array) {
            od::value v;
            valid = doc_.get_value().get(v) == simdjson::SUCCESS && json::walk_value(v, 1, walk_) &&
                    doc_.current_location().error() == simdjson::OUT_OF_BOUNDS;
        } else if (type == od::json_type::string) {
            valid = doc_.get_string().get(token) == simdjson::SUCCESS &&
                    doc_.current_location().error() == simdjson::OUT_OF_BOUNDS;
        } else if (doc_.raw_json_token().get(token) == simdjson::SUCCESS) {
            // A scalar is not consumed by the checks: it must end the line.
            token = json::trim_right(token);
            valid = token.data() + token.size() == line_.data() + line_.size() &&
                    (type == od::json_type::number    ? json::is_json_number(token)
                     : type == od::json_type::boolean ? token == "true" || token == "false"
                                                      : token == "null");
        }
        return valid ? ParseError::not_an_object : ParseError::malformed_json;
    }

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

    // Malformed JSON: stops the reading.
    bool malformed() {
        error_ = ParseError::malformed_json;
        return false;
    }

    // A command that is JSON but not a valid command: noted, and the reading
    // goes on so that malformed JSON later in the line is still reported as
    // such.
    bool wrong(ParseError e) {
        if (semantic_ == ParseError::none) semantic_ = e;
        return true;
    }

    bool skip(od::value value, int depth) {
        return json::walk_value(value, depth, walk_) || malformed();
    }

    bool wrong_type(od::value value, int depth) {
        return skip(value, depth) && wrong(ParseError::wrong_type);
    }

    bool read_string(od::value value, std::string_view& out) {
        if (json::is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::string) return wrong_type(value, 3);
        // A string without escapes is taken from the input (valid as long as
        // the frame); get_string still validates it. One with escapes is
        // unescaped into the parser's buffer (valid until the next command).
        std::string_view raw = json::trim_right(value.raw_json_token());
        if (value.get_string().get(out) != simdjson::SUCCESS) return malformed();
        if (raw.size() >= 2 && raw.find('\\') == std::string_view::npos) {
            out = raw.substr(1, raw.size() - 2);
        }
        return true;
    }

    bool read_bool(od::value value, bool& out) {
        if (json::is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::boolean) return wrong_type(value, 3);
        return value.get_bool().get(out) == simdjson::SUCCESS || malformed();
    }

    // Integers as Go's decoder takes them into uint32/uint64/int32 fields: a
    // JSON number without fraction or exponent, in range; anything else
    // (1.0, 1e2, -1 for an unsigned field) fails the command.
    template <typename T>
    bool read_integer(od::value value, T& out) {
        if (json::is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::number) return wrong_type(value, 3);
        if (!json::is_json_number(json::trim_right(value.raw_json_token()))) {
            return malformed();
        }
        if constexpr (std::is_unsigned_v<T>) {
            uint64_t v;
            if (value.get_uint64().get(v) != simdjson::SUCCESS ||
                v > std::numeric_limits<T>::max()) {
                return wrong(ParseError::wrong_type);
            }
            out = static_cast<T>(v);
        } else {
            int64_t v;
            if (value.get_int64().get(v) != simdjson::SUCCESS ||
                v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
                return wrong(ParseError::wrong_type);
            }
            out = static_cast<T>(v);
        }
        return true;
    }

    bool read_u32(od::value value, uint32_t& out) { return read_integer(value, out); }

    bool read_raw(od::value value, std::string_view& out) {
        if (json::is_null(value)) return true;
        return json::walk_raw(doc_, value, 3, walk_, out) || malformed();
    }

    // `since` of history: {"offset":N,"epoch":"..."}.
    bool read_position(od::value value) {
        if (json::is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::object) return wrong_type(value, 3);
        od::object object;
        if (value.get_object().get(object) != simdjson::SUCCESS) {
            return malformed();
        }
        out_.has_since = true;
        for (auto field_result : object) {
            od::field field;
            std::string_view key;
            if (std::move(field_result).get(field) != simdjson::SUCCESS ||
                field.unescaped_key().get(key) != simdjson::SUCCESS) {
                return malformed();
            }
            od::value v = field.value();
            bool ok = key == "offset"  ? read_integer(v, out_.offset)
                      : key == "epoch" ? read_string(v, out_.epoch)
                                       : skip(v, 4);
            if (!ok) return false;
        }
        return true;
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
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::object) return wrong_type(value, 2);
        od::object object;
        if (value.get_object().get(object) != simdjson::SUCCESS) {
            return malformed();
        }
        for (auto field_result : object) {
            od::field field;
            std::string_view key;
            if (std::move(field_result).get(field) != simdjson::SUCCESS ||
                field.unescaped_key().get(key) != simdjson::SUCCESS) {
                return malformed();
            }
            if (!read_request_field(key, field.value())) return false;
        }
        return true;
    }

    od::document& doc_;
    std::string_view line_;
    Command& out_;
    json::WalkState walk_{kMaxJsonDepth};
    ParseError error_ = ParseError::none;     // malformed JSON: reading stopped
    ParseError semantic_ = ParseError::none;  // the first non-JSON problem
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
