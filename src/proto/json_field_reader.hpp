// Reading the fields of a JSON request with simdjson On-Demand the way Go's
// encoding/json fills a struct (what Centrifugo does with a client command
// or a server API body): null is an absent field, a known field of the wrong
// JSON type fails the request, integers must be exact and in range, unknown
// fields are walked (validated) and ignored. Shared by the Centrifugo command
// parser and the server API parser, each with its own error enum. Include
// only from .cpp files (simdjson.h is large).
//
// Two kinds of failure: malformed JSON stops the reading at once (error());
// a request that is JSON but wrong is noted (semantic(), the first one) and
// the reading goes on, so malformed JSON later in the text is still reported
// as such.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

#include "proto/json_walk.hpp"

namespace wsgate::proto::json {

// Error: an enum whose value-initialised member (0) means "none".
template <class Error>
class FieldReader {
  public:
    // field_depth: the depth of the fields read (the document's root is 1).
    FieldReader(od::document& doc, int max_depth, int field_depth, Error malformed_json,
                Error wrong_type)
        : doc_(doc),
          walk_{max_depth},
          field_depth_(field_depth),
          malformed_json_(malformed_json),
          wrong_type_(wrong_type) {}

    Error error() const { return error_; }
    Error semantic() const { return semantic_; }

    bool malformed() {
        error_ = malformed_json_;
        return false;
    }
    bool wrong(Error e) {
        if (semantic_ == Error{}) semantic_ = e;
        return true;
    }
    bool skip(od::value value, int depth) { return walk_value(value, depth, walk_) || malformed(); }
    bool wrong_type(od::value value, int depth) { return skip(value, depth) && wrong(wrong_type_); }

    // A string. One without escapes is taken from the input (valid as long
    // as the text); get_string still validates it. One with escapes is
    // unescaped into the parser's string buffer.
    bool read_string(od::value value, std::string_view& out, int depth = 0) {
        depth = depth != 0 ? depth : field_depth_;
        if (is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::string) return wrong_type(value, depth);
        std::string_view raw = trim_right(value.raw_json_token());
        if (value.get_string().get(out) != simdjson::SUCCESS) return malformed();
        if (raw.size() >= 2 && raw.find('\\') == std::string_view::npos) {
            out = raw.substr(1, raw.size() - 2);
        }
        return true;
    }

    bool read_bool(od::value value, bool& out, int depth = 0) {
        depth = depth != 0 ? depth : field_depth_;
        if (is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::boolean) return wrong_type(value, depth);
        return value.get_bool().get(out) == simdjson::SUCCESS || malformed();
    }

    // Integers as Go's decoder takes them into int32/uint32/uint64 fields: a
    // number without fraction or exponent, in range (1.0, 1e2, -1 for an
    // unsigned field: wrong type).
    template <typename T>
    bool read_integer(od::value value, T& out, int depth = 0) {
        depth = depth != 0 ? depth : field_depth_;
        if (is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::number) return wrong_type(value, depth);
        if (!is_json_number(trim_right(value.raw_json_token()))) return malformed();
        if constexpr (std::is_unsigned_v<T>) {
            uint64_t v;
            if (value.get_uint64().get(v) != simdjson::SUCCESS ||
                v > std::numeric_limits<T>::max()) {
                return wrong(wrong_type_);
            }
            out = static_cast<T>(v);
        } else {
            int64_t v;
            if (value.get_int64().get(v) != simdjson::SUCCESS ||
                v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
                return wrong(wrong_type_);
            }
            out = static_cast<T>(v);
        }
        return true;
    }

    // Any value, validated, as its exact text (relayed, never re-encoded).
    // null: absent, or (keep_null) the four bytes `null`, as Go's
    // json.RawMessage keeps them.
    bool read_raw(od::value value, std::string_view& out, bool keep_null = false) {
        if (!keep_null && is_null(value)) return true;
        return walk_raw(doc_, value, field_depth_, walk_, out) || malformed();
    }

    // An object of fields at `depth`, each read by field(key, value).
    template <class Field>
    bool read_object(od::value value, int depth, Field&& field) {
        if (is_null(value)) return true;
        od::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) return malformed();
        if (type != od::json_type::object) return wrong_type(value, depth);
        od::object object;
        if (value.get_object().get(object) != simdjson::SUCCESS) return malformed();
        for (auto field_result : object) {
            od::field f;
            std::string_view key;
            if (std::move(field_result).get(f) != simdjson::SUCCESS ||
                f.unescaped_key().get(key) != simdjson::SUCCESS) {
                return malformed();
            }
            if (!field(key, f.value())) return false;
        }
        return true;
    }

    // A document whose root is not an object: whether it is JSON all the
    // same (a valid array, string or scalar with nothing but whitespace after
    // it), so that "not an object" is told apart from malformed JSON.
    // text_end: one past the document's last byte that is not whitespace.
    bool root_is_json(od::json_type type, const char* text_end) {
        std::string_view token;
        if (type == od::json_type::array) {
            od::value v;
            return doc_.get_value().get(v) == simdjson::SUCCESS && walk_value(v, 1, walk_) &&
                   doc_.current_location().error() == simdjson::OUT_OF_BOUNDS;
        }
        if (type == od::json_type::string) {
            return doc_.get_string().get(token) == simdjson::SUCCESS &&
                   doc_.current_location().error() == simdjson::OUT_OF_BOUNDS;
        }
        // A scalar is not consumed by the checks: it must end the text.
        if (doc_.raw_json_token().get(token) != simdjson::SUCCESS) return false;
        token = trim_right(token);
        return token.data() + token.size() == text_end &&
               (type == od::json_type::number    ? is_json_number(token)
                : type == od::json_type::boolean ? token == "true" || token == "false"
                                                 : token == "null");
    }

  protected:
    od::document& doc_;
    WalkState walk_;

  private:
    int field_depth_;
    Error malformed_json_;
    Error wrong_type_;
    Error error_{};     // malformed JSON: reading stopped
    Error semantic_{};  // the first non-JSON problem
};

}  // namespace wsgate::proto::json
