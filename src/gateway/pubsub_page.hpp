// The page GET / serves in --mode pubsub: a small chat over the Centrifugo
// client protocol (JSON, docs/centrifugo-protocol.md), written directly on
// the WebSocket so it needs no SDK and no network beyond wsgate. Element ids
// are stable for tests and scripts:
//   #status      connecting | connected | disconnected | closed
//   #status-detail  close code and reason, reconnect delay
//   #client      client id from the connect reply
//   #pings       server pings answered
//   #channel, #join           channel to join (also ?channel=NAME)
//   #sub-status  none | subscribing | subscribed | unsubscribed | error
//   #sub-detail  offset/epoch, "recovered N" or "not recovered" after a reconnect
//   #name, #text, #send       publish {"name","text"} to the channel
//   #error       the last error reply
//   #messages    one div.message per publication (data-offset when history is
//                on), holding span.name and span.text
#pragma once

#include <string_view>

namespace wsgate::gateway {

extern const std::string_view kPubsubPage;

}  // namespace wsgate::gateway
