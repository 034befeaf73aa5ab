// Reload hooks (gateway/reloader.hpp) for state the loops share rather than
// hold in their settings snapshot: the per-address admission table, and the
// proxy's routing table (its servers' live state carried over).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/reloader.hpp"
#include "proxy/proxy_table.hpp"
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

// --mode proxy: --upstream, --route, --balance, --health-check,
// --hash-balance-factor and the passive health keys. prepare() builds the
// next table from the file (names resolved again, on the reload's thread;
// a bad one fails the reload) with the running table's live state for the
// servers that stay; the snapshot carries it to every loop (fill), and
// commit() makes it the one /metrics reads. An unchanged routing keeps the
// running table.
class ProxyRoutesReload final : public ReloadHook {
  public:
    explicit ProxyRoutesReload(proxy::CurrentProxyTable& current) : current_(current) {}
    std::string_view name() const override { return "proxy routes"; }
    std::string prepare(const Config& running, const Config& next,
                        std::vector<std::string>* changed) override;
    void fill(SettingsSnapshot& next) override;
    void commit() override;
    void abort() override { prepared_.reset(); }

  private:
    proxy::CurrentProxyTable& current_;
    std::shared_ptr<const proxy::ProxyTable> prepared_;  // null: no change
};

// The start-up table of a checked --mode proxy configuration.
std::shared_ptr<const proxy::ProxyTable> start_proxy_table(const Config& config);

}  // namespace wsgate::gateway
