// What one loop of the hub keeps: its clients (connections that sent
// connect) and its channels (those with subscribers on this loop, and, on
// the channel's home loop, the stream).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pubsub/channel_stream.hpp"
#include "pubsub/channel_table.hpp"
#include "ws/connection_handle.hpp"

namespace wsgate::pubsub {

// One channel on one loop.
struct LocalChannel {
    std::string name;
    uint64_t hash = 0;
    // Active subscribers (client indices); each Subscription knows its place.
    std::vector<uint32_t> subscribers;
    uint32_t pending = 0;  // subscribes waiting for the home's answer
    // The loop knows the stream's position: every publication after `top`
    // reaches this loop (its interest is registered at the home).
    bool positioned = false;
    bool interest_registered = false;
    uint64_t top = 0;
    std::string epoch;
    std::unique_ptr<ChannelStream> stream;  // on the home loop only
    // --engine redis, on the home: the channel's Redis subscription and
    // whether `stream` (a copy of Redis's: top, epoch, recent history) is in
    // step with it. Messages that come while it is not are held (bounded),
    // subscribes wait.
    enum class Redis : uint8_t {
        none,
        subscribe_wanted,
        subscribe_sent,
        sync_wanted,
        sync_sent,
        synced
    };
    Redis redis = Redis::none;
    bool redis_synced_once = false;  // the stream has Redis's position (else: take it)
    bool redis_held_overflow = false;
    // Set while the home works on the channel from a link's callback: a
    // subscriber closed meanwhile (3010, slow) must not drop the entry under it.
    uint16_t redis_busy = 0;
    uint32_t redis_gen = 0;  // tells replies for an earlier entry with this id apart
    std::vector<PublicationRef> redis_held;
    std::vector<struct SubscribeRequest*> redis_waiting;
};

struct Subscription {
    static constexpr uint32_t kPending = UINT32_MAX;
    uint32_t channel = 0;       // LocalChannel id
    uint32_t place = kPending;  // index in LocalChannel::subscribers, or kPending
};

struct Client {
    ws::ConnectionHandle handle;
    std::string user;  // the token's sub; "" for anonymous
    std::vector<Subscription> subs;
    int64_t expires_ms = 0;  // loop clock; 0: never (no token exp)
    bool connected = false;
    bool ping_outstanding = false;
    bool in_use = false;
    // Commands whose answer another loop owes (subscribe, history,
    // presence_stats): the connection cannot move to a new process before.
    uint32_t requests = 0;
};

// A connected client costs this record (plus its subscriptions' 8 bytes
// each and 4 in each channel's list) on top of the loop's Connection.
static_assert(sizeof(Client) <= 80, "Client record grew: check the per-connection memory budget");
static_assert(sizeof(Subscription) == 8);

// Clients of one loop by index (a connection's app_state holds index + 1).
class ClientTable {
  public:
    uint32_t add(ws::ConnectionHandle h) {
        uint32_t i;
        if (!free_.empty()) {
            i = free_.back();
            free_.pop_back();
        } else {
            i = static_cast<uint32_t>(clients_.size());
            clients_.emplace_back();
        }
        clients_[i] = Client{};
        clients_[i].handle = h;
        clients_[i].in_use = true;
        ++size_;
        return i;
    }
    void remove(uint32_t i) {
        clients_[i] = Client{};
        free_.push_back(i);
        --size_;
    }
    Client& operator[](uint32_t i) { return clients_[i]; }
    uint32_t size() const { return size_; }

    template <class F>
    void for_each(F&& f) {
        for (uint32_t i = 0; i < clients_.size(); ++i) {
            if (clients_[i].in_use) f(i, clients_[i]);
        }
    }

  private:
    std::vector<Client> clients_;
    std::vector<uint32_t> free_;
    uint32_t size_ = 0;
};

using LoopChannels = ChannelTable<LocalChannel>;

}  // namespace wsgate::pubsub
