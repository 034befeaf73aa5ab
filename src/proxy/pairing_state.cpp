#include "proxy/pairing_state.hpp"

#include <cstring>

namespace wsgate::proxy {
namespace {

constexpr uint8_t kPairingVersion = 1;

// Host order: both processes run on the same machine.
struct PairingHeader {
    uint8_t version = kPairingVersion;
    uint8_t relay = 0;
    uint16_t pool_bytes = 0;
    uint16_t server_bytes = 0;
    uint16_t reserved = 0;
    uint32_t ping_due_ms = 0;
};
static_assert(sizeof(PairingHeader) == 12);

}  // namespace

void append_pairing_state(const PairingState& state, std::vector<uint8_t>& out) {
    const bool named =
        state.pool.size() <= kMaxPairingName && state.server.size() <= kMaxPairingName;
    PairingHeader h;
    h.relay = static_cast<uint8_t>(state.relay);
    h.pool_bytes = named ? static_cast<uint16_t>(state.pool.size()) : 0;
    h.server_bytes = named ? static_cast<uint16_t>(state.server.size()) : 0;
    h.ping_due_ms = state.ping_due_ms;
    const auto* head = reinterpret_cast<const uint8_t*>(&h);
    out.insert(out.end(), head, head + sizeof(h));
    out.insert(out.end(), state.pool.data(), state.pool.data() + h.pool_bytes);
    out.insert(out.end(), state.server.data(), state.server.data() + h.server_bytes);
}

bool read_pairing_state(std::span<const uint8_t> bytes, PairingState* state) {
    PairingHeader h;
    if (bytes.size() < sizeof(h)) return false;
    std::memcpy(&h, bytes.data(), sizeof(h));
    if (h.version != kPairingVersion ||
        bytes.size() != sizeof(h) + size_t{h.pool_bytes} + h.server_bytes ||
        h.relay > static_cast<uint8_t>(Relay::frames)) {
        return false;
    }
    const char* names = reinterpret_cast<const char*>(bytes.data() + sizeof(h));
    state->relay = static_cast<Relay>(h.relay);
    state->ping_due_ms = h.ping_due_ms;
    state->pool = {names, h.pool_bytes};
    state->server = {names + h.pool_bytes, h.server_bytes};
    return true;
}

}  // namespace wsgate::proxy
