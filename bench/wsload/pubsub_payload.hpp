#pragma once
// What wsload's pub/sub mode publishes, and reading it back at the subscriber.
// A publication's data is one JSON object written by the publisher,
//   {"p":3,"s":17,"t":123456789012,"x":"xxxx…"}
// p = the publisher, s = its sequence number on that channel (1, 2, …),
// t = CLOCK_MONOTONIC nanoseconds when it was (meant to be) sent — one clock
// for every process on the machine — and x = padding up to the payload size.
// The hub relays data as the raw bytes it received (PUBSUB_SPEC), so the
// subscriber finds the same object inside the push and the publish→delivery
// latency is its receive time minus t. Independent of sockets.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsgate::bench {

struct PublicationStamp {
    std::uint32_t publisher = 0;
    std::uint64_t sequence = 0;
    std::uint64_t sent_ns = 0;
};

// The smallest data object (empty padding, every number at its widest):
// payload sizes below it are raised to it.
inline constexpr std::size_t kMinPublicationData = 73;

// Channel k of a run: "bench.<k>".
std::string channel_name(std::uint32_t k);
// The k of "bench.<k>"; false for any other name.
bool parse_channel_index(std::string_view name, std::uint32_t& k);

// Appends the data object for `stamp`, padded to exactly max(size,
// kMinPublicationData) bytes.
void append_publication_data(std::string& out, const PublicationStamp& stamp, std::size_t size);

// Reads a data object written by append_publication_data from the start of
// `data` (which may continue past it). `length` receives the object's size.
// False when `data` does not start with such an object.
bool parse_publication_data(std::string_view data, PublicationStamp& stamp, std::size_t& length);

// The client publish command (centrifugal/protocol v2, JSON):
// {"id":N,"publish":{"channel":"bench.k","data":<data>}}
void append_publish_command(std::string& out, std::uint32_t id, std::string_view channel,
                            const PublicationStamp& stamp, std::size_t size);

// The server API publish request (HTTP/1.1 keep-alive, PUBSUB_SPEC "HTTP server
// API"): POST /api/publish with X-API-Key and body {"channel":"bench.k","data":<data>}.
void append_api_publish_request(std::string& out, std::string_view host, std::string_view api_key,
                                std::string_view channel, const PublicationStamp& stamp,
                                std::size_t size);

// The commands a subscriber sends in its first message, as the SDK batches them
// (connect and its subscriptions, '\n'-separated): connect is id 1, channel
// `channels[j]` is subscribed with id j + 2.
std::string subscriber_hello(const std::uint32_t* channels, std::size_t count);

}  // namespace wsgate::bench
