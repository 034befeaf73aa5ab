#pragma once
// What a client does with check_upgrade_response's answer: wait for more
// bytes (up to a bound on the header block), carry on upgraded, or fail the
// connection with the error it is counted as.

#include <cstddef>

#include "client_codec.hpp"
#include "shared_stats.hpp"

namespace wsgate::bench {

inline constexpr std::size_t kMaxHandshakeBytes = 16384;

struct UpgradeVerdict {
    enum class Step { kWait, kUpgraded, kFail } step;
    ErrorKind error = ErrorKind::kCount;  // with kFail
};

inline UpgradeVerdict judge_upgrade(HandshakeResult result, std::size_t received_bytes) {
    using Step = UpgradeVerdict::Step;
    switch (result) {
        case HandshakeResult::kIncomplete:
            if (received_bytes > kMaxHandshakeBytes)
                return {Step::kFail, ErrorKind::kHandshakeHeaders};
            return {Step::kWait};
        case HandshakeResult::kBadStatus:
            return {Step::kFail, ErrorKind::kHandshakeStatus};
        case HandshakeResult::kBadAccept:
            return {Step::kFail, ErrorKind::kHandshakeAccept};
        case HandshakeResult::kBadHeaders:
            return {Step::kFail, ErrorKind::kHandshakeHeaders};
        case HandshakeResult::kOk:
            break;
    }
    return {Step::kUpgraded};
}

}  // namespace wsgate::bench
