// Which settings a reload (SIGHUP, POST /admin/reload) applies to the
// running process and which need a restart, and the plan for one reload:
// the effective configuration (the running one with the live keys' new
// values) and what changed. A key not listed as live needs a restart: a new
// setting is safe by default (its change is reported, not half-applied).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"

namespace wsgate::gateway {

struct ReloadPlan {
    Config effective;                  // what the new snapshot is built from
    std::vector<std::string> applied;  // live keys whose value changes
    std::vector<std::string> restart;  // "key: why" for changes left for a restart
};

// `started`: the configuration the process started with (table sizes come
// from it); `running`: the current snapshot's; `next`: the file and flags as
// read now (checked by check_config).
ReloadPlan plan_reload(const Config& started, const Config& running, const Config& next);

// True when a change of `key` (a settings-table name) applies without a restart.
bool is_live_key(std::string_view key);

// The live keys and the restart-only ones, as TOML comment lines (check-config).
std::string describe_reload_policy();

}  // namespace wsgate::gateway
