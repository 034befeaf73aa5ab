// A loop's inbox: what other loops and the main thread hand to it (shutdown,
// a new settings snapshot, a publication), posted without locks and taken
// by the loop in one batch per wake. See mpsc_ring.hpp for the queue and
// loop_wake.hpp for how a batch of posts costs one wake.
#pragma once

#include <cstddef>

#include "io/loop_wake.hpp"
#include "io/mpsc_ring.hpp"

namespace wsgate::io {

enum class PostResult {
    queued,            // a wake is already on its way
    queued_wake_owed,  // the caller must deliver the wake (eventfd or MSG_RING)
    full,              // nothing posted: retry later
};

template <RingMessage Message>
class LoopInbox {
  public:
    explicit LoopInbox(size_t capacity) : ring_(capacity) {}

    // Creates the wake eventfd. Returns 0 or -errno.
    int open() { return wake_.open(); }

    // Any thread.
    [[nodiscard]] PostResult post(const Message& m) {
        if (!ring_.try_push(m)) return PostResult::full;
        return wake_.claim() ? PostResult::queued_wake_owed : PostResult::queued;
    }
    // Any thread without an io_uring of its own (the main thread): posts and
    // delivers an owed wake by eventfd. False when the inbox is full.
    [[nodiscard]] bool post_and_signal(const Message& m) {
        PostResult r = post(m);
        if (r == PostResult::queued_wake_owed) wake_.signal_eventfd();
        return r != PostResult::full;
    }

    // The owning loop, when a wake arrives: hands every posted message to
    // f(const Message&) in order, at most capacity() of them, so producers
    // that keep posting cannot hold the loop here. What is left was posted
    // after the wake flag was cleared, so its producers owe a new wake.
    // Returns how many were taken.
    template <class F>
    size_t drain(F&& f) {
        wake_.clear();
        Message m;
        size_t n = 0;
        while (n < ring_.capacity() && ring_.try_pop(m)) {
            f(static_cast<const Message&>(m));
            ++n;
        }
        return n;
    }

    LoopWake& wake() { return wake_; }
    size_t capacity() const { return ring_.capacity(); }

  private:
    MpscRing<Message> ring_;
    LoopWake wake_;
};

}  // namespace wsgate::io
