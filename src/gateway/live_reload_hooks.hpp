// Reload hooks (gateway/reloader.hpp) for state the loops share rather than
// hold in their settings snapshot: the per-address admission table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/reloader.hpp"
#include "ws/peer_admission.hpp"

namespace wsgate::gateway {

// --max-connections-per-ip, --connection-rate-per-ip (and its burst),
// --ipv6-prefix-length: the process-wide table keeps its counts of open
// connections and its rate buckets; new connections are admitted by the
// reloaded limits (ws::PeerAdmission::update).
class PeerLimitsReload final : public ReloadHook {
  public:
    PeerLimitsReload(ws::PeerAdmission& admission, unsigned threads)
        : admission_(admission), threads_(threads) {}
    std::string_view name() const override { return "per-address limits"; }
    std::string prepare(const Config& running, const Config& next,
                        std::vector<std::string>* changed) override;
    void commit() override;
    void abort() override { pending_ = false; }

  private:
    ws::PeerAdmission& admission_;
    unsigned threads_;
    ws::PeerAdmissionSettings next_;
    bool pending_ = false;
};

}  // namespace wsgate::gateway
