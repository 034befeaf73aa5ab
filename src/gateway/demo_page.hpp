// The page GET / serves: a minimal echo client (ids per the server contract:
// #status, #msg, #send, #log).
#pragma once

#include <string_view>

namespace wsgate::gateway {

extern const std::string_view kDemoPage;

}  // namespace wsgate::gateway
