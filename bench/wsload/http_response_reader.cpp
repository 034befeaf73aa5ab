#include "http_response_reader.hpp"

#include <charconv>

#include "header_text.hpp"

namespace wsgate::bench {

std::string_view HttpResponseReader::body() const {
    return std::string_view(buffer_).substr(head_end_, body_length_);
}

HttpResponseReader::Status HttpResponseReader::parse_head() {
    const std::string_view head = std::string_view(buffer_).substr(0, head_end_ - 4);
    // status-line = HTTP-version SP status-code SP [reason-phrase] (RFC 9112 §4)
    if (!head.starts_with("HTTP/1.1 ") || head.size() < 12) return Status::kMalformed;
    const auto r = std::from_chars(head.data() + 9, head.data() + 12, status_);
    if (r.ec != std::errc{} || r.ptr != head.data() + 12) return Status::kMalformed;
    bool has_length = false;
    closes_ = false;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos) {
        pos += 2;
        const std::size_t end = head.find("\r\n", pos);
        const std::string_view line = head.substr(pos, end - pos);
        pos = end;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return Status::kMalformed;
        const std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            std::size_t n = 0;
            const auto lr = std::from_chars(value.data(), value.data() + value.size(), n);
            if (lr.ec != std::errc{} || lr.ptr != value.data() + value.size() || has_length)
                return Status::kMalformed;
            body_length_ = n;
            has_length = true;
        } else if (iequals(name, "connection")) {
            closes_ = iequals(value, "close");
        }
    }
    if (!has_length || head_end_ + body_length_ > max_bytes_) return Status::kMalformed;
    return Status::kNeedMore;
}

HttpResponseReader::Status HttpResponseReader::next(std::span<const std::uint8_t> data,
                                                    std::size_t& used) {
    used = 0;
    if (done_) {
        buffer_.erase(0, head_end_ + body_length_);
        head_end_ = 0;
        body_length_ = 0;
        done_ = false;
    }
    while (true) {
        if (head_end_ == 0) {
            const std::size_t end = buffer_.find("\r\n\r\n");
            if (end != std::string::npos) {
                head_end_ = end + 4;
                if (parse_head() == Status::kMalformed) return Status::kMalformed;
                continue;
            }
            if (buffer_.size() > max_bytes_) return Status::kMalformed;
        } else if (buffer_.size() >= head_end_ + body_length_) {
            done_ = true;
            return Status::kResponse;
        }
        if (used == data.size()) return Status::kNeedMore;
        // Take only what the current response may still need, so one call
        // never swallows the next response's bytes beyond the buffer cap.
        std::size_t take = data.size() - used;
        if (head_end_ != 0) take = std::min(take, head_end_ + body_length_ - buffer_.size());
        buffer_.append(reinterpret_cast<const char*>(data.data() + used), take);
        used += take;
    }
}

}  // namespace wsgate::bench
