#include "gateway/reloader.hpp"

#include <algorithm>

#include "gateway/reload_policy.hpp"
#include "gateway/sd_notify.hpp"
#include "io/log.hpp"
#include "proto/json_out.hpp"

namespace wsgate::gateway {

namespace {

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) {
        if (!out.empty()) out += ", ";
        out += item;
    }
    return out;
}

void json_list(proto::JsonOut& out, const std::vector<std::string>& items) {
    out.raw('[');
    for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out.raw(',');
        out.string(items[i]);
    }
    out.raw(']');
}

size_t json_bound(const ReloadOutcome& o) {
    size_t n = 128 + proto::json_string_bound(o.error);
    for (const std::string& s : o.applied)
        n += proto::json_string_bound(s) + 1;
    for (const std::string& s : o.restart)
        n += proto::json_string_bound(s) + 1;
    return n;
}

}  // namespace

std::string reload_log_line(const ReloadOutcome& o) {
    if (!o.ok) {
        if (o.refused) return "reload refused: " + o.error;
        return "reload failed, nothing changed: " + o.error;
    }
    std::string line = "reloaded (settings generation " + std::to_string(o.generation) + "): ";
    line += o.applied.empty() ? "nothing changed live" : "applied " + joined(o.applied);
    if (!o.restart.empty()) line += "; not applied, need a restart: " + joined(o.restart);
    return line;
}

std::string reload_json(const ReloadOutcome& o) {
    std::string buffer(json_bound(o), '\0');
    proto::JsonOut out(buffer);
    out.raw("{\"ok\":");
    out.boolean(o.ok);
    if (o.ok) {
        out.raw(",\"generation\":");
        out.number(o.generation);
        out.raw(",\"applied\":");
        json_list(out, o.applied);
        out.raw(",\"restart_needed\":");
        json_list(out, o.restart);
    } else {
        out.raw(",\"error\":");
        out.string(o.error);
    }
    out.raw("}\n");
    buffer.resize(out.size());
    return buffer;
}

Reloader::Reloader(std::vector<std::string> args, std::shared_ptr<const SettingsSnapshot> started,
                   SnapshotContext context, Publish publish)
    : args_(std::move(args)),
      started_(started->config),
      context_(std::move(context)),
      publish_(std::move(publish)),
      current_(std::move(started)) {}

void Reloader::add_hook(ReloadHook* hook) {
    std::lock_guard lock(mutex_);
    hooks_.push_back(hook);
}

void Reloader::remove_hook(ReloadHook* hook) {
    std::lock_guard lock(mutex_);
    std::erase(hooks_, hook);
}

void Reloader::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
}

std::shared_ptr<const SettingsSnapshot> Reloader::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

ReloadOutcome Reloader::reload() {
    std::lock_guard lock(mutex_);
    ReloadOutcome outcome;
    if (closed_) {
        outcome.refused = true;
        outcome.error = "shutting down";
    } else {
        if (notify_) notify_reloading();
        std::vector<const char*> argv;
        for (const std::string& a : args_)
            argv.push_back(a.c_str());
        Config next;
        outcome.error = parse_config(static_cast<int>(argv.size()), argv.data(), &next);
        if (outcome.error.empty()) {
            ReloadPlan plan = plan_reload(started_, current_->config, next);
            outcome.applied = std::move(plan.applied);
            outcome.restart = std::move(plan.restart);
            size_t prepared = 0;
            for (; prepared < hooks_.size(); ++prepared) {
                ReloadHook* hook = hooks_[prepared];
                std::string e = hook->prepare(current_->config, next, &outcome.applied);
                if (!e.empty()) {
                    outcome.error = std::string(hook->name()) + ": " + e;
                    break;
                }
            }
            if (!outcome.error.empty()) {
                for (size_t i = 0; i < prepared; ++i)
                    hooks_[i]->abort();
            } else {
                std::shared_ptr<SettingsSnapshot> next_snapshot =
                    build_snapshot(plan.effective, context_, current_->generation + 1);
                for (ReloadHook* hook : hooks_)
                    hook->fill(*next_snapshot);
                current_ = std::move(next_snapshot);
                publish_(current_);
                for (ReloadHook* hook : hooks_)
                    hook->commit();
                // The level is process-wide: every loop's next line obeys it.
                io::set_log_level(current_->config.log_level);
                outcome.ok = true;
                outcome.generation = current_->generation;
            }
        }
        if (!outcome.ok) {
            outcome.applied.clear();
            outcome.restart.clear();
        }
        // Serving again either way: a failed reload left everything as it was.
        if (notify_) notify_ready();
    }
    (outcome.ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
    const std::string line = reload_log_line(outcome);
    io::log(outcome.ok ? io::LogLevel::info : io::LogLevel::error, "reload", io::kNoConn,
            {{"ok", outcome.ok ? 1 : 0}, {"generation", outcome.generation}}, "%s", line.c_str());
    return outcome;
}

}  // namespace wsgate::gateway
