// The replies and pushes that go out to one client in one WebSocket message,
// separated by '\n' (centrifugal.dev "Client protocol": several replies per
// frame). Each is written with the JsonOut writers into a scratch buffer that
// grows (doubling) until the write fits, so steady traffic allocates nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proto/json_out.hpp"

namespace wsgate::pubsub {

class ReplyBatch {
  public:
    // write(JsonOut&) appends one reply; it is retried into a larger buffer
    // when it did not fit.
    template <class Write>
    void add(Write&& write) {
        for (;;) {
            proto::JsonOut out(std::span<char>(scratch_.data(), scratch_.size()));
            write(out);
            if (out.ok()) {
                if (!text_.empty()) text_.push_back('\n');
                text_.append(out.view());
                return;
            }
            scratch_.resize(scratch_.size() * 2);
        }
    }

    std::string_view text() const { return text_; }
    bool empty() const { return text_.empty(); }
    void clear() { text_.clear(); }

  private:
    std::vector<char> scratch_ = std::vector<char>(4096);
    std::string text_;
};

}  // namespace wsgate::pubsub
