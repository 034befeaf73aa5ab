// HubApp: questions every loop answers in part (presence, channels, info, actions by user).
// Definitions of members declared in hub_app.hpp, which includes this file after the class; not to
// be included on its own.
#pragma once

namespace wsgate::pubsub {

template <class Loop>
void HubApp::start_gather(Loop& loop, Gather* g) {
    g->remaining.store(shared_.loops(), std::memory_order_relaxed);
    for (uint32_t l = 0; l < shared_.loops(); ++l) {
        if (l != loop_id_) post(loop, l, HubTag::gather, g);
    }
    gather_step(loop, g);
}

template <class Loop>
void HubApp::gather_step(Loop& loop, Gather* g) {
    {
        std::lock_guard lock(g->mutex);
        add_part(loop, *g);
    }
    if (g->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    uint32_t origin = g->reply.handle.loop();
    if (origin == loop_id_) {
        finish_gather(loop, std::unique_ptr<Gather>(g));
    } else {
        post(loop, origin, HubTag::gather_done, g);
    }
}

template <class Loop>
void HubApp::add_part(Loop& loop, Gather& g) {
    switch (g.kind) {
        case Gather::Kind::presence_stats: {
            uint32_t id = channels_.find(g.channel, channel_hash(g.channel));
            if (id == LoopChannels::kNone) return;
            for (uint32_t ci : channels_[id].subscribers) {
                ++g.num_clients;
                g.users.insert(clients_[ci].user);
            }
            // Subscribes still waiting for their home count too: a client
            // that sent subscribe, then presence_stats, counts itself
            // (Centrifugo handles one client's commands in order). Rare
            // enough to look through the loop's clients for them.
            if (channels_[id].pending == 0) return;
            clients_.for_each([&](uint32_t, Client& c) {
                for (const Subscription& sub : c.subs) {
                    if (sub.channel == id && sub.place == Subscription::kPending) {
                        ++g.num_clients;
                        g.users.insert(c.user);
                    }
                }
            });
            return;
        }
        case Gather::Kind::channels:
            channels_.for_each([&](uint32_t, LocalChannel& ch) {
                if (!ch.subscribers.empty()) g.channels[ch.name] += ch.subscribers.size();
            });
            return;
        case Gather::Kind::info:
            clients_.for_each([&](uint32_t, Client& c) {
                if (!c.connected) return;
                ++g.num_clients;
                g.num_subs += c.subs.size();
                g.users.insert(c.user);
            });
            if (!g.heartbeat || !redis_engine()) return;
            channels_.for_each([&](uint32_t, LocalChannel& ch) {
                if (ch.subscribers.empty()) return;
                Gather::Presence& p = g.presence[ch.name];
                p.clients += ch.subscribers.size();
                for (uint32_t ci : ch.subscribers)
                    p.users.insert(clients_[ci].user);
            });
            return;
        case Gather::Kind::unsubscribe_user: {
            uint32_t id = channels_.find(g.channel, channel_hash(g.channel));
            if (id == LoopChannels::kNone) return;
            std::vector<uint32_t> found;
            for (uint32_t ci : channels_[id].subscribers) {
                if (user_matches(clients_[ci], g)) found.push_back(ci);
            }
            for (uint32_t ci : found) {
                ws::ConnectionHandle h = clients_[ci].handle;
                unsubscribe(loop, ci, g.channel);
                reply(loop, h, [&](proto::JsonOut& o) {
                    cf::write_unsubscribe_push(o, g.channel, cf::UnsubscribeCode::server);
                });
            }
            return;
        }
        case Gather::Kind::disconnect_user: {
            std::vector<uint32_t> found;
            clients_.for_each([&](uint32_t ci, Client& c) {
                if (c.connected && user_matches(c, g)) found.push_back(ci);
            });
            for (uint32_t ci : found) {
                if (g.disconnect_code != 0) {
                    loop.close(clients_[ci].handle, g.disconnect_code, g.disconnect_reason);
                } else {
                    disconnect(loop, ci, cf::DisconnectCode::force_no_reconnect, "by the API");
                }
            }
            return;
        }
    }
}

template <class Loop>
void HubApp::finish_gather(Loop& loop, std::unique_ptr<Gather> g) {
    if (redis_engine() && g->kind == Gather::Kind::info && redis_info(loop, g)) return;
    if (redis_engine() && g->kind == Gather::Kind::presence_stats && !g->cluster_asked &&
        redis_presence(loop, g)) {
        return;
    }
    if (redis_engine() && g->kind == Gather::Kind::channels && !g->cluster_asked &&
        redis_channels(loop, g)) {
        return;
    }
    if (g->heartbeat) return;
    if (g->reply.kind == ReplyTo::Kind::http) {
        respond_api(loop, g->reply,
                    api_response_.build(200, g->reply.keep_alive,
                                        [&](proto::JsonOut& o) { write_gather_result(o, *g); }));
        return;
    }
    if (g->reply.kind != ReplyTo::Kind::client) return;
    if (uint32_t ci = client_of(loop, g->reply.handle);
        ci != kNoClient && clients_[ci].requests > 0) {
        --clients_[ci].requests;
    }
    if (g->kind != Gather::Kind::presence_stats) return;
    reply(loop, g->reply.handle, [&](proto::JsonOut& o) {
        cf::write_presence_stats_reply(o, g->reply.id, static_cast<uint32_t>(g->num_clients),
                                       static_cast<uint32_t>(g->users.size()));
    });
}

inline void HubApp::write_gather_result(proto::JsonOut& o, const Gather& g) {
    switch (g.kind) {
        case Gather::Kind::presence_stats:
            cf::write_api_presence_stats_result(o, static_cast<uint32_t>(g.num_clients),
                                                static_cast<uint32_t>(g.users.size()));
            return;
        case Gather::Kind::unsubscribe_user:
        case Gather::Kind::disconnect_user:
            cf::write_api_empty_result(o);
            return;
        case Gather::Kind::channels:
            cf::begin_api_channels_result(o);
            for (const auto& [name, n] : g.channels) {
                if (!g.pattern.empty() && fnmatch(g.pattern.c_str(), name.c_str(), 0) != 0) {
                    continue;
                }
                cf::add_api_channel(o, name, static_cast<uint32_t>(n));
            }
            cf::end_api_channels_result(o);
            return;
        case Gather::Kind::info: {
            if (!g.node_json.empty()) {
                // The cluster: this node, then the others from their heartbeats.
                o.raw(R"({"result":{"nodes":[)");
                o.raw(g.node_json);
                for (const std::string& other : g.other_nodes) {
                    o.raw(",");
                    o.raw(other);
                }
                o.raw("]}}");
                return;
            }
            cf::ApiNodeInfo node;
            node.uid = shared_.node_uid;
            node.name = shared_.node_uid;
            node.version = settings_.version;
            node.num_clients = static_cast<uint32_t>(g.num_clients);
            node.num_users = static_cast<uint32_t>(g.users.size());
            node.num_channels =
                static_cast<uint32_t>(shared_.channels.load(std::memory_order_relaxed));
            node.num_subs = static_cast<uint32_t>(g.num_subs);
            node.uptime_seconds =
                static_cast<uint32_t>((unix_seconds() * 1000 - shared_.start_ms) / 1000);
            cf::write_api_info_result(o, node);
            return;
        }
    }
}

inline bool HubApp::user_matches(const Client& c, const Gather& g) const {
    if (c.user != g.user) return false;
    if (g.client.empty()) return true;
    char id[40];
    client_id(c.handle, id);
    return g.client == id;
}

}  // namespace wsgate::pubsub
