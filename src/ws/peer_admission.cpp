#include "ws/peer_admission.hpp"

#include <algorithm>
#include <bit>

#include "ws/peer_key.hpp"

namespace wsgate::ws {

namespace {
constexpr uint32_t kMsPerSecond = 1000;
}

PeerAdmission::PeerAdmission(const PeerAdmissionSettings& settings)
    : settings_(settings),
      ipv6_prefix_bits_(settings.ipv6_prefix_bits),
      seed_(random_peer_seed()),
      open_(settings.max_open_keys) {
    uint32_t sets = std::bit_ceil(std::max<uint32_t>(1, settings.rate_entries / kWays));
    if (settings.rate.per_second != 0) rates_.allocate(size_t{sets} * kWays);
    rate_set_mask_ = sets - 1;
}

void PeerAdmission::update(const PeerAdmissionSettings& next) {
    std::lock_guard lock(mutex_);
    settings_.max_connections = next.max_connections;
    settings_.rate = next.rate;
    ipv6_prefix_bits_.store(next.ipv6_prefix_bits, std::memory_order_relaxed);
    // A rate set by a reload: its buckets appear now (zero pages, as at start).
    if (settings_.rate.per_second != 0 && !rates_)
        rates_.allocate(size_t{rate_set_mask_ + 1} * kWays);
}

bool PeerAdmission::key_of(const sockaddr* addr, socklen_t len, uint64_t* key) const {
    const uint32_t bits = ipv6_prefix_bits_.load(std::memory_order_relaxed);
    if (!peer_key(addr, len, seed_, key, bits)) return false;
    if (*key == 0) *key = 1;  // 0 marks an empty entry and "not counted"
    return true;
}

// The key's entry in its set of kWays; a key not there takes an empty way,
// else the way whose bucket is fullest now (forgetting a full bucket loses
// nothing: the address would start from a full one anyway).
PeerAdmission::RateEntry& PeerAdmission::rate_entry(uint64_t key, uint32_t now_ms) {
    RateEntry* set = &rates_[size_t{(key >> 32) & rate_set_mask_} * kWays];
    RateEntry* victim = nullptr;
    uint64_t victim_units = 0;
    for (uint32_t w = 0; w < kWays; ++w) {
        RateEntry& e = set[w];
        if (e.key == key) return e;
        if (e.key == 0) {
            if (victim == nullptr || victim->key != 0) victim = &e;
            continue;
        }
        if (victim != nullptr && victim->key == 0) continue;
        e.bucket.refill(settings_.rate, now_ms);
        if (victim == nullptr || e.bucket.units > victim_units) {
            victim = &e;
            victim_units = e.bucket.units;
        }
    }
    victim->key = key;
    victim->bucket.fill(settings_.rate, now_ms);
    return *victim;
}

PeerAdmission::Result PeerAdmission::admit(uint64_t key, uint32_t now_ms) {
    std::lock_guard lock(mutex_);
    if (settings_.max_connections != 0 && open_.count(key) >= settings_.max_connections) {
        return {Verdict::over_connections, 1};
    }
    if (settings_.rate.per_second != 0) {
        RateEntry& e = rate_entry(key, now_ms);
        if (!e.bucket.take(settings_.rate, 1, now_ms)) {
            uint64_t ms = e.bucket.ms_until(settings_.rate, 1, now_ms);
            uint64_t seconds = std::max<uint64_t>(1, (ms + kMsPerSecond - 1) / kMsPerSecond);
            return {Verdict::over_rate, static_cast<uint32_t>(seconds)};
        }
    }
    // Counted even without a limit (a reload may set one).
    const uint32_t cap = settings_.max_connections != 0 ? settings_.max_connections : UINT32_MAX;
    if (!open_.try_add(key, cap)) return {Verdict::table_full, 1};
    return {Verdict::admitted, 0};
}

void PeerAdmission::release(uint64_t key) {
    std::lock_guard lock(mutex_);
    open_.remove(key);
}

uint32_t PeerAdmission::open_keys() {
    std::lock_guard lock(mutex_);
    return open_.keys();
}

}  // namespace wsgate::ws
