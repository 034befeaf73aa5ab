// wsload pubsub's HTTP publishers: pipelined keep-alive responses read one at a
// time from any split.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http_response_reader.hpp"

using namespace wsgate::bench;
using Status = HttpResponseReader::Status;

namespace {

struct Got {
    int status;
    std::string body;
    bool closes;
};

// Feeds `wire` in pieces of `step` bytes; stops at the first malformed answer.
std::vector<Got> read_all(const std::string& wire, std::size_t step, bool* malformed = nullptr) {
    HttpResponseReader reader;
    std::vector<Got> got;
    for (std::size_t at = 0; at < wire.size(); at += step) {
        std::string_view piece = std::string_view(wire).substr(at, step);
        while (true) {
            std::size_t used = 0;
            const Status st = reader.next(
                {reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size()}, used);
            piece.remove_prefix(used);
            if (st == Status::kMalformed) {
                if (malformed) *malformed = true;
                return got;
            }
            if (st == Status::kNeedMore) break;
            got.push_back({reader.status(), std::string(reader.body()), reader.closes()});
        }
    }
    return got;
}

std::string response(int status, const std::string& body, const std::string& extra = {}) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\ncontent-type: application/json\r\n" +
           extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST(WsloadHttpResponse, PipelinedAnswersFromEverySplit) {
    const std::string a = "{\"result\":{\"offset\":1,\"epoch\":\"e\"}}";
    const std::string wire = response(200, a) + response(401, "") +
                             response(200, std::string(3000, 'b')) +
                             response(200, "{}", "Connection:  close \r\n");
    for (std::size_t step = 1; step <= wire.size(); step += (step < 64 ? 1 : 97)) {
        const std::vector<Got> got = read_all(wire, step);
        ASSERT_EQ(got.size(), 4u) << step;
        EXPECT_EQ(got[0].status, 200);
        EXPECT_EQ(got[0].body, a);
        EXPECT_EQ(got[1].status, 401);
        EXPECT_EQ(got[1].body, "");
        EXPECT_EQ(got[2].body.size(), 3000u);
        EXPECT_FALSE(got[2].closes);
        EXPECT_TRUE(got[3].closes);
    }
}

TEST(WsloadHttpResponse, RefusesWhatItCannotDelimit) {
    for (const std::string& wire :
         {std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
          std::string("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
          std::string("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"),
          std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
          std::string("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
          std::string("HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n"),
          response(200, std::string(70000, 'x'))}) {
        bool malformed = false;
        EXPECT_TRUE(read_all(wire, wire.size(), &malformed).empty());
        EXPECT_TRUE(malformed) << wire.substr(0, 60);
    }
}
