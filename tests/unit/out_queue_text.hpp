// What an OutQueue holds, gathered into one string, for comparing with what
// was appended.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <string>

#include "io/out_queue.hpp"

namespace wsgate::test {

inline std::string gathered(const wsgate::io::OutQueue& q) {
    iovec iov[64];
    size_t n = q.gather(iov, 64);
    std::string s;
    for (size_t i = 0; i < n; ++i)
        s.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
    return s;
}

}  // namespace wsgate::test
