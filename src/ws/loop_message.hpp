// What travels through a loop's inbox (io/loop_inbox.hpp): posted by the
// main thread or another loop, taken by the loop once per wake.
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/loop_inbox.hpp"

namespace wsgate::ws {

enum class LoopMessageKind : uint8_t {
    shutdown,  // stop accepting, close every connection with 1001, then end
    app,       // for the application (Application::on_inbox_message); fields are its own
    settings,  // a reload: pointer owns a ws::SettingsUpdate (ws/settings_update.hpp)
    // Live upgrade (ws/connection_export.hpp): pointer is a HandoverChannel
    // to hand every open connection to, or an AdoptBatch to take.
    hand_over,
    adopt,
    adopt_state,  // pointer owns a LoopStateBatch: the old loop's application state
};

struct LoopMessage {
    LoopMessageKind kind = LoopMessageKind::app;
    uint32_t tag = 0;         // app: what the message is, in the app's terms
    uint64_t word = 0;        // app: e.g. a ConnectionHandle's bits or a sequence number
    void* pointer = nullptr;  // app: an object whose ownership the message hands over
};
static_assert(sizeof(LoopMessage) == 24);

using LoopInbox = io::LoopInbox<LoopMessage>;
// Messages an inbox holds before post() answers full; 4096 x 32-byte cells.
inline constexpr size_t kLoopInboxCapacity = 4096;

}  // namespace wsgate::ws
