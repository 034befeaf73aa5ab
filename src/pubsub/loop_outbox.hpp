// Posting to other loops' inboxes in order, even when one is full: what
// does not fit waits here, per target, and goes out (still in order) on a
// later turn. Nothing posted is ever dropped: a publication forwarded to a
// loop with subscribers must arrive (no silent gap in a stream).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "ws/application.hpp"
#include "ws/loop_message.hpp"

namespace wsgate::pubsub {

template <class L>
concept PostingLoop = requires(L& loop, ws::LoopInbox& inbox, const ws::LoopMessage& m) {
    { loop.post_to(inbox, m) } -> std::same_as<bool>;
};

class LoopOutbox {
  public:
    explicit LoopOutbox(const std::vector<ws::LoopInbox*>& inboxes)
        : inboxes_(inboxes), waiting_(inboxes.size()) {}

    template <PostingLoop Loop>
    void post(Loop& loop, uint32_t target, const ws::LoopMessage& m) {
        std::deque<ws::LoopMessage>& q = waiting_[target];
        if (q.empty() && loop.post_to(*inboxes_[target], m)) return;
        q.push_back(m);
        ++waiting_count_;
    }

    // Posts what waits, in order, until a target is full again.
    template <PostingLoop Loop>
    void flush(Loop& loop) {
        if (waiting_count_ == 0) return;
        for (uint32_t t = 0; t < waiting_.size(); ++t) {
            std::deque<ws::LoopMessage>& q = waiting_[t];
            while (!q.empty() && loop.post_to(*inboxes_[t], q.front())) {
                q.pop_front();
                --waiting_count_;
            }
        }
    }

    bool empty() const { return waiting_count_ == 0; }

    // At the end: f(message) for everything still waiting (to free what it owns).
    template <class F>
    void discard_all(F&& f) {
        for (std::deque<ws::LoopMessage>& q : waiting_) {
            for (const ws::LoopMessage& m : q)
                f(m);
            q.clear();
        }
        waiting_count_ = 0;
    }

  private:
    const std::vector<ws::LoopInbox*>& inboxes_;
    std::vector<std::deque<ws::LoopMessage>> waiting_;
    size_t waiting_count_ = 0;
};

}  // namespace wsgate::pubsub
