// Prints replies and pushes made by wsgate's Centrifugo writers, as one JSON
// object {name: frame}, for test_centrifuge_codec.mjs to feed to the real
// SDK. Every frame is what a hub would send: the writers' bytes unchanged.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/centrifugo_reply_writer.hpp"

namespace {

using namespace wsgate::proto;
using namespace wsgate::proto::centrifugo;

constexpr std::string_view kChannel = "news:sport";

std::vector<char> g_buffer(1 << 16);

struct Sample {
    std::string name;
    std::string frame;
};

template <typename Write>
Sample make(std::string name, Write write) {
    JsonOut out(g_buffer);
    write(out);
    if (!out.ok()) std::abort();
    return {std::move(name), std::string(out.view())};
}

// A stored publication: its push bytes and where its pub object lies.
struct Stored {
    std::string push;
    std::string object;
};

Stored store(std::string_view data, uint64_t offset, const ClientInfo* info) {
    JsonOut out(g_buffer);
    EncodedPublication e = write_publication_push(out, kChannel, Publication{data, offset, info});
    if (!out.ok()) std::abort();
    std::string_view all = out.view();
    return {std::string(all.substr(e.begin, e.end - e.begin)),
            std::string(all.substr(e.object_begin, e.object_end - e.object_begin))};
}

}  // namespace

int main() {
    ClientInfo publisher{"42", "c-9"};
    Stored p11 = store(R"({"n":11})", 11, nullptr);
    Stored p12 = store(R"({"n":12})", 12, nullptr);
    Stored p13 = store("{\"text\":\"h\xc3\xa9llo\",\"list\":[1,2.5,null]}", 13, &publisher);
    Stored p14 = store(R"("fourteen")", 14, nullptr);

    std::vector<Sample> samples;
    samples.push_back(make("connect", [](JsonOut& o) {
        ConnectResult r;
        r.client = "c-1";
        r.version = "wsgate-test";
        r.ping_seconds = 25;
        r.pong = true;
        write_connect_reply(o, 1, r);
    }));
    samples.push_back(make("subscribe_recovered", [&](JsonOut& o) {
        SubscribeResult r;
        r.recoverable = true;
        r.positioned = true;
        r.epoch = "ep";
        r.offset = 12;
        r.was_recovering = true;
        r.recovered = true;
        begin_subscribe_reply(o, 2, r);
        add_publication(o, p11.object);
        add_publication(o, p12.object);
        end_subscribe_reply(o);
    }));
    samples.push_back({"publication", p13.push});
    samples.push_back(make("publish_ok_and_publication", [&](JsonOut& o) {
        write_empty_reply(o, 3, Method::publish);
        append_separator(o);
        o.raw(p14.push);
    }));
    samples.push_back(make("history", [&](JsonOut& o) {
        begin_history_reply(o, 4);
        add_publication(o, p11.object);
        add_publication(o, p12.object);
        end_history_reply(o, "ep", 14);
    }));
    samples.push_back(
        make("presence_stats", [](JsonOut& o) { write_presence_stats_reply(o, 5, 3, 2); }));
    samples.push_back(make("publish_denied", [](JsonOut& o) {
        write_error_reply(o, 6, ErrorCode::permission_denied);
    }));
    samples.push_back({"ping", std::string(kPing)});
    samples.push_back(make("unsubscribe_push", [](JsonOut& o) {
        write_unsubscribe_push(o, kChannel, UnsubscribeCode::server);
    }));
    samples.push_back(make("disconnect_push", [](JsonOut& o) {
        write_disconnect_push(o, DisconnectCode::bad_request);
    }));
    samples.push_back({"slow_reason", std::string(disconnect_reason(DisconnectCode::slow))});

    std::string all = "{";
    for (const Sample& s : samples) {
        if (all.size() > 1) all += ",";
        JsonOut out(g_buffer);
        out.string(s.name);
        out.raw(':');
        out.string(s.frame);
        if (!out.ok()) return 1;
        all += out.view();
    }
    all += "}\n";
    std::fwrite(all.data(), 1, all.size(), stdout);
    return 0;
}
