// A settings snapshot on its way to one loop (LoopMessageKind::settings):
// a reload builds the whole snapshot first, then posts one of these to every
// loop's inbox. The loop adopts it between two events (while it drains its
// inbox), so no connection ever sees half of a reload, and no loop reads a
// setting another thread is writing: the snapshot is immutable and shared by
// reference count (Envoy's thread-local snapshots, nginx's new cycle).
#pragma once

#include <memory>

#include "ws/loop_message.hpp"
#include "ws/loop_settings.hpp"

namespace wsgate::ws {

struct SettingsUpdate {
    // The loop's own settings. Fields fixed at start-up (backend options,
    // deflate agreement, table sizes) are equal to the running ones: the
    // builder keeps them, a changed one needs a restart.
    std::shared_ptr<const LoopSettings> loop;
    // The application's part (its own type, e.g. pubsub::HubSettings),
    // opaque to the loop; the application knows what it was given
    // (ReloadableApplication). May be null: nothing for the application.
    std::shared_ptr<const void> app;
};

// The message that hands `update` to a loop; the message owns it until the
// loop (or take_settings_update on a message nobody ran) takes it back.
inline LoopMessage settings_message(SettingsUpdate update) {
    LoopMessage m;
    m.kind = LoopMessageKind::settings;
    m.pointer = new SettingsUpdate(std::move(update));
    return m;
}

// Takes the update out of a settings message (frees the carrier).
inline SettingsUpdate take_settings_update(const LoopMessage& m) {
    auto* carrier = static_cast<SettingsUpdate*>(m.pointer);
    SettingsUpdate update = std::move(*carrier);
    delete carrier;
    return update;
}

}  // namespace wsgate::ws
