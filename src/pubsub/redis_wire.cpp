#include "pubsub/redis_wire.hpp"

#include <openssl/sha.h>

#include <charconv>

namespace wsgate::pubsub::redis {

const std::string_view kPublishScript = R"lua(
local top = redis.call('hincrby', KEYS[2], 's', 1)
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[6]
  redis.call('hset', KEYS[2], 'e', epoch)
  redis.call('del', KEYS[1])
end
redis.call('expire', KEYS[2], ARGV[5])
redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[3], top .. '-0', 'd', ARGV[2])
redis.call('expire', KEYS[1], ARGV[4])
redis.call('publish', ARGV[1], top .. ' ' .. epoch .. ' ' .. ARGV[2])
return {top, epoch}
)lua";

const std::string_view kSyncScript = R"lua(
local top = tonumber(redis.call('hget', KEYS[2], 's') or '0')
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('hset', KEYS[2], 'e', epoch)
  redis.call('expire', KEYS[2], ARGV[3])
end
local entries = {}
local from = tonumber(ARGV[1])
if tonumber(ARGV[2]) > 0 and top > from then
  entries = redis.call('xrange', KEYS[1], (from + 1) .. '-0', '+', 'COUNT', ARGV[2])
end
return {top, epoch, entries}
)lua";

const std::string_view kHistoryScript = R"lua(
local top = tonumber(redis.call('hget', KEYS[2], 's') or '0')
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[6]
  redis.call('hset', KEYS[2], 'e', epoch)
  redis.call('expire', KEYS[2], ARGV[5])
end
local since = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local max = tonumber(ARGV[4])
if limit < 0 or limit > max then limit = max end
local from = '-'
if since >= 0 then from = (since + 1) .. '-0' end
local entries = {}
if limit > 0 then
  if ARGV[3] == '1' or since < 0 then
    -- The newest `limit` (MAXLEN ~ may keep a few more than history-size).
    entries = redis.call('xrevrange', KEYS[1], '+', from, 'COUNT', limit)
    if ARGV[3] ~= '1' then
      local n = #entries
      for i = 1, math.floor(n / 2) do
        entries[i], entries[n + 1 - i] = entries[n + 1 - i], entries[i]
      end
    end
  else
    entries = redis.call('xrange', KEYS[1], from, '+', 'COUNT', limit)
  end
end
return {top, epoch, entries}
)lua";

const std::string_view kHeartbeatScript = R"lua(
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zadd', KEYS[1], now, ARGV[1])
redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - tonumber(ARGV[3]))
return 1
)lua";

const std::string_view kNodesScript = R"lua(
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local uids = redis.call('zrangebyscore', KEYS[1], now - tonumber(ARGV[1]), '+inf')
local out = {}
for _, u in ipairs(uids) do
  local v = redis.call('get', 'wsgate.node.' .. u)
  if v then out[#out + 1] = v end
end
return out
)lua";

const std::string_view kPresenceScript = R"lua(
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local uids = redis.call('zrangebyscore', KEYS[1], now - tonumber(ARGV[1]), '+inf')
local out = {}
for _, u in ipairs(uids) do
  if u ~= ARGV[3] then
    local v = redis.call('get', ARGV[2] .. u)
    if v then out[#out + 1] = v end
  end
end
return out
)lua";

const std::string_view kChannelsWriteScript = R"lua(
redis.call('del', KEYS[1])
if #ARGV < 3 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('pexpire', KEYS[1], ARGV[1])
return 1
)lua";

const std::string_view kChannelsScript = R"lua(
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local uids = redis.call('zrangebyscore', KEYS[1], now - tonumber(ARGV[1]), '+inf')
local out = {}
for _, u in ipairs(uids) do
  if u ~= ARGV[2] then
    local kv = redis.call('hgetall', 'wsgate.channels.' .. u)
    for i = 1, #kv do out[#out + 1] = kv[i] end
  end
end
return out
)lua";

void append_presence(std::string& out, uint64_t clients, const std::set<std::string>& users) {
    out += std::to_string(clients);
    for (const std::string& u : users) {
        out += ' ';
        out += std::to_string(u.size());
        out += ':';
        out += u;
    }
}

bool parse_presence(std::string_view value, uint64_t& clients, std::set<std::string>& users) {
    auto number = [&](char stop, uint64_t& n) {
        size_t end = value.find(stop);
        std::string_view digits = value.substr(0, end);
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty()) return false;
        value.remove_prefix(end == std::string_view::npos ? value.size() : end + 1);
        return true;
    };
    uint64_t n = 0;
    if (!number(' ', n)) return false;
    std::set<std::string> found;
    while (!value.empty()) {
        uint64_t len = 0;
        if (!number(':', len) || len > value.size()) return false;
        size_t end = static_cast<size_t>(len);
        found.emplace(value.substr(0, end));
        value.remove_prefix(end);
        if (!value.empty()) {
            if (value[0] != ' ') return false;
            value.remove_prefix(1);
        }
    }
    clients += n;
    users.merge(found);
    return true;
}

std::string script_sha1(std::string_view script) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(script.data()), script.size(), digest);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char b : digest) {
        hex += kHex[b >> 4];
        hex += kHex[b & 15];
    }
    return hex;
}

uint32_t jump_hash(uint64_t key, uint32_t shards) {
    int64_t b = -1;
    int64_t j = 0;
    while (j < static_cast<int64_t>(shards)) {
        b = j;
        key = key * 2862933555777941757ull + 1;
        j = static_cast<int64_t>(
            static_cast<double>(b + 1) *
            (static_cast<double>(int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<uint32_t>(b);
}

namespace {
template <class T>
bool read_number(std::string_view& s, char end, T* out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (r.ec != std::errc() || r.ptr == s.data() + s.size() || *r.ptr != end) return false;
    s.remove_prefix(static_cast<size_t>(r.ptr - s.data()) + 1);
    return true;
}
void append_number(std::string& out, size_t n) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof(digits), n);
    out.append(digits, static_cast<size_t>(r.ptr - digits));
}
}  // namespace

void append_body(std::string& out, std::string_view data,
                 const proto::centrifugo::ClientInfo* info) {
    if (info == nullptr) {
        out += 'n';
    } else {
        out += 'i';
        append_number(out, info->user.size());
        out += ' ';
        append_number(out, info->client.size());
        out += ' ';
        out.append(info->user);
        out.append(info->client);
    }
    out.append(data);
}

std::optional<Body> parse_body(std::string_view s) {
    if (s.empty()) return std::nullopt;
    Body b;
    char kind = s[0];
    s.remove_prefix(1);
    if (kind == 'n') {
        b.data = s;
        return b;
    }
    if (kind != 'i') return std::nullopt;
    size_t user = 0, client = 0;
    if (!read_number(s, ' ', &user) || !read_number(s, ' ', &client)) return std::nullopt;
    if (user > s.size() || client > s.size() - user) return std::nullopt;
    b.has_info = true;
    b.info.user = s.substr(0, user);
    b.info.client = s.substr(user, client);
    b.data = s.substr(user + client);
    return b;
}

std::optional<Message> parse_message(std::string_view s) {
    Message m;
    if (!read_number(s, ' ', &m.offset)) return std::nullopt;
    size_t space = s.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    m.epoch = s.substr(0, space);
    m.body = s.substr(space + 1);
    return m;
}

std::optional<uint64_t> entry_offset(std::string_view id) {
    uint64_t offset = 0;
    if (!read_number(id, '-', &offset)) return std::nullopt;
    return offset;
}

}  // namespace wsgate::pubsub::redis
