// raw_fanout_server: the physical-limit reference for wsgate's pub/sub fan-out.
// It speaks just enough of WebSocket (RFC 6455 opening handshake, masked client
// frames) and of the Centrifugo JSON client protocol (connect, subscribe,
// publish; the HTTP API's POST /api/publish on keep-alive connections) to
// satisfy `wsload --mode pubsub`, and then does per publication what any
// fan-out must: one push frame built once (the bytes wsgate's hub writes,
// proto/centrifugo_reply_writer) and one send() of it per subscriber, straight
// from the publishing thread's loop (epoll, nonblocking sockets; what a send
// cannot take waits for EPOLLOUT). No history, no limits, no pings, no auth: the
// ratio of wsgate's deliveries per CPU-second to this program's is what the
// hub costs beyond the kernel's TCP work.
//
// --threads N: N loops, each with its own SO_REUSEPORT listener and its own
// subscribers; a publication is posted (once, in offset order) to every loop
// holding subscribers of its channel, which sends to its own.
//
// usage: raw_fanout_server [--listen 127.0.0.1:9310] [--threads N] [--max-seconds N]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proto/accept_key.hpp"
#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/json_out.hpp"

namespace {

namespace cf = wsgate::proto::centrifugo;

constexpr int kListenBacklog = 4096;
constexpr double kDefaultMaxSeconds = 3600;  // a forgotten server still stops by itself
constexpr std::size_t kMaxInput = 1 << 20;   // per connection: a request or a message
constexpr std::size_t kReadChunk = 65536;
constexpr int kMaxEvents = 256;
constexpr std::string_view kEpoch = "raw";

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

// A server frame (unmasked, FIN) around `payload` (RFC 6455 §5.2).
void append_server_frame(std::string& out, std::uint8_t opcode, std::string_view payload) {
    out += static_cast<char>(0x80 | opcode);
    const std::uint64_t n = payload.size();
    if (n < 126) {
        out += static_cast<char>(n);
    } else if (n < 65536) {
        out += static_cast<char>(126);
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(n & 0xFF);
    } else {
        out += static_cast<char>(127);
        for (int shift = 56; shift >= 0; shift -= 8)
            out += static_cast<char>((n >> shift) & 0xFF);
    }
    out += payload;
}

// Where the JSON value starting at `pos` ends (one past it), for values
// written by a well-behaved client; npos when it does not end.
std::size_t json_value_end(std::string_view s, std::size_t pos) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = pos; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
            if (!in_string && depth == 0) return i + 1;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return i + 1;
            if (depth < 0) return i;
        } else if (depth == 0 && (c == ',' || c == ' ')) {
            return i;
        }
    }
    return std::string_view::npos;
}

struct Job {
    std::shared_ptr<const std::string> frame;
    std::uint32_t channel = 0;
};

struct Channel {
    std::uint64_t offset = 0;
    std::vector<std::uint32_t> subscribers_per_loop;
};

class Loop;

// What the loops share: channel names, offsets and which loops hold
// subscribers of each, behind one mutex (taken per publication and per
// subscribe, never per delivery).
struct Hub {
    std::mutex mutex;
    std::unordered_map<std::string, std::uint32_t> ids;
    std::vector<Channel> channels;
    std::vector<Loop*> loops;
};

class Loop {
  public:
    Loop(Hub& hub, std::uint32_t index) : hub_(hub), index_(index) {}
    bool start(std::uint32_t ip, std::uint16_t port);
    void run(double max_seconds);
    void post(Job job) {
        {
            std::lock_guard lock(inbox_mutex_);
            inbox_.push_back(std::move(job));
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof one);
    }

  private:
    enum class Kind : std::uint8_t { kNew, kHttp, kWebSocket };
    struct Conn {
        bool open = false;
        Kind kind = Kind::kNew;
        bool want_out = false;
        std::string in;
        std::string message;  // a fragmented text message being joined
        std::string pending;  // bytes a send could not take yet
        std::vector<std::uint32_t> channels;
    };

    void accept_all();
    void on_readable(int fd);
    void on_writable(int fd);
    bool process(int fd);  // false: close it
    bool process_head(int fd, std::size_t head_end);
    bool process_frames(int fd);
    bool on_message(int fd, std::string_view message);
    std::uint64_t publish(std::string_view channel, std::string_view data);
    void drain_inbox();
    void send_bytes(int fd, std::string_view bytes);
    void close_conn(int fd);

    Hub& hub_;
    std::uint32_t index_;
    int listen_fd_ = -1, epoll_fd_ = -1, wake_fd_ = -1;
    std::vector<Conn> conns_;                    // by fd
    std::vector<std::vector<int>> subscribers_;  // by channel id: this loop's
    std::mutex inbox_mutex_;
    std::vector<Job> inbox_, draining_;
    std::string out_;
    std::vector<char> reply_;
    std::vector<char> read_buffer_ = std::vector<char>(kReadChunk);
    std::unique_ptr<cf::CommandParser> parser_ = std::make_unique<cf::CommandParser>(kMaxInput);
};

bool Loop::start(std::uint32_t ip, std::uint16_t port) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    conns_.resize(lim.rlim_cur);
    reply_.resize(kMaxInput + 4096);
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(listen_fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(ip);
    if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, kListenBacklog) != 0) {
        std::perror("raw_fanout_server: bind/listen");
        return false;
    }
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.data.fd = wake_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    return true;
}

void Loop::run(double max_seconds) {
    const std::time_t end = std::time(nullptr) + static_cast<std::time_t>(max_seconds);
    epoll_event events[kMaxEvents];
    while (!g_stop && std::time(nullptr) < end) {
        const int n = epoll_wait(epoll_fd_, events, kMaxEvents, 200);
        for (int e = 0; e < n; ++e) {
            const int fd = events[e].data.fd;
            if (fd == listen_fd_) {
                accept_all();
            } else if (fd == wake_fd_) {
                std::uint64_t count = 0;
                [[maybe_unused]] const ssize_t r = read(wake_fd_, &count, sizeof count);
                drain_inbox();
            } else {
                if (events[e].events & EPOLLOUT) on_writable(fd);
                if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd);
            }
        }
    }
}

void Loop::accept_all() {
    while (true) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;
        if (static_cast<std::size_t>(fd) >= conns_.size()) {
            close(fd);
            continue;
        }
        conns_[fd] = Conn{};
        conns_[fd].open = true;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
}

void Loop::on_readable(int fd) {
    Conn& c = conns_[fd];
    while (c.open) {
        const ssize_t n = recv(fd, read_buffer_.data(), read_buffer_.size(), 0);
        if (n > 0) c.in.append(read_buffer_.data(), static_cast<std::size_t>(n));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            close_conn(fd);
            return;
        }
        if (n < 0) break;
        if (!process(fd) || c.in.size() > kMaxInput) {
            close_conn(fd);
            return;
        }
    }
    drain_inbox();  // this loop's own publications go out before it reads more
}

void Loop::on_writable(int fd) {
    Conn& c = conns_[fd];
    if (!c.open || c.pending.empty()) return;
    const ssize_t n = send(fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN) {
        close_conn(fd);
        return;
    }
    if (n > 0) c.pending.erase(0, static_cast<std::size_t>(n));
    if (c.pending.empty() && c.want_out) {
        c.want_out = false;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
    }
}

// The delivery: one send() of the whole frame, or a queue behind earlier bytes.
void Loop::send_bytes(int fd, std::string_view bytes) {
    Conn& c = conns_[fd];
    if (!c.open) return;
    if (!c.pending.empty()) {
        c.pending += bytes;
        return;
    }
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN) {
        close_conn(fd);
        return;
    }
    const std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (sent == bytes.size()) return;
    c.pending.assign(bytes.substr(sent));
    c.want_out = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

bool Loop::process(int fd) {
    Conn& c = conns_[fd];
    while (c.open) {
        if (c.kind == Kind::kWebSocket) return process_frames(fd);
        const std::size_t head_end = c.in.find("\r\n\r\n");
        if (head_end == std::string::npos) return true;
        const std::size_t before = c.in.size();
        if (!process_head(fd, head_end + 4)) return false;
        if (c.in.size() == before) return true;  // waiting for a body
    }
    return true;
}

// One HTTP request head (RFC 9112): the WebSocket upgrade, or POST /api/publish.
bool Loop::process_head(int fd, std::size_t head_end) {
    Conn& c = conns_[fd];
    const std::string_view head(c.in.data(), head_end);
    if (head.starts_with("GET ")) {
        const std::size_t at = head.find("Sec-WebSocket-Key:");
        if (at == std::string_view::npos) return false;
        std::size_t v = at + 18;
        while (v < head.size() && head[v] == ' ')
            ++v;
        const std::size_t v_end = head.find("\r\n", v);
        char accept[wsgate::proto::kAcceptKeyLength];
        wsgate::proto::compute_accept_key(head.substr(v, v_end - v), accept);
        out_ =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: ";
        out_.append(accept, sizeof accept);
        out_ += "\r\n\r\n";
        c.in.erase(0, head_end);
        c.kind = Kind::kWebSocket;
        send_bytes(fd, out_);
        return true;
    }
    if (!head.starts_with("POST /api/publish ")) return false;
    std::size_t length = 0;
    for (const std::string_view name : {"Content-Length:", "content-length:"}) {
        const std::size_t at = head.find(name);
        if (at == std::string_view::npos) continue;
        std::size_t v = at + name.size();
        while (v < head.size() && head[v] == ' ')
            ++v;
        std::from_chars(head.data() + v, head.data() + head.size(), length);
    }
    if (c.in.size() < head_end + length) return true;  // the body is still coming
    const std::string_view body(c.in.data() + head_end, length);
    const std::size_t ch = body.find("\"channel\":\"");
    const std::size_t data = body.find("\"data\":");
    if (ch == std::string_view::npos || data == std::string_view::npos) return false;
    const std::size_t ch_end = body.find('"', ch + 11);
    const std::size_t data_end = json_value_end(body, data + 7);
    if (ch_end == std::string_view::npos || data_end == std::string_view::npos) return false;
    const std::uint64_t offset =
        publish(body.substr(ch + 11, ch_end - ch - 11), body.substr(data + 7, data_end - data - 7));
    std::string result = "{\"result\":{\"offset\":" + std::to_string(offset) + ",\"epoch\":\"" +
                         std::string(kEpoch) + "\"}}";
    out_ = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(result.size()) + "\r\n\r\n" + result;
    c.in.erase(0, head_end + length);
    c.kind = Kind::kHttp;
    send_bytes(fd, out_);
    return true;
}

// Masked client frames (RFC 6455 §5.2, §5.3), each taken once it is whole.
bool Loop::process_frames(int fd) {
    Conn& c = conns_[fd];
    std::size_t pos = 0;
    while (c.open) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(c.in.data() + pos);
        const std::size_t avail = c.in.size() - pos;
        if (avail < 2) break;
        const bool fin = p[0] & 0x80;
        const std::uint8_t opcode = p[0] & 0x0F;
        if (!(p[1] & 0x80)) return false;  // client frames are masked (§5.1)
        std::uint64_t length = p[1] & 0x7F;
        std::size_t header = 2;
        if (length == 126) {
            if (avail < 4) break;
            length = (std::uint64_t{p[2]} << 8) | p[3];
            header = 4;
        } else if (length == 127) {
            if (avail < 10) break;
            length = 0;
            for (int b = 0; b < 8; ++b)
                length = (length << 8) | p[2 + b];
            header = 10;
        }
        if (length > kMaxInput) return false;
        if (avail < header + 4 + length) break;
        const std::uint8_t* mask = p + header;
        std::string payload(reinterpret_cast<const char*>(p + header + 4), length);
        for (std::size_t i = 0; i < payload.size(); ++i)
            payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
        pos += header + 4 + length;
        if (opcode == 0x8) {  // close: answer with the same code, then end
            out_.clear();
            append_server_frame(out_, 0x8, std::string_view(payload).substr(0, 2));
            send_bytes(fd, out_);
            if (c.open) shutdown(fd, SHUT_WR);
            c.in.clear();
            return true;
        }
        if (opcode == 0x9) {
            out_.clear();
            append_server_frame(out_, 0xA, payload);
            send_bytes(fd, out_);
            continue;
        }
        if (opcode == 0xA) continue;
        c.message += payload;
        if (!fin) continue;
        const std::string message = std::move(c.message);
        c.message.clear();
        if (!on_message(fd, message)) return false;
    }
    if (c.open) c.in.erase(0, pos);
    return true;
}

bool Loop::on_message(int fd, std::string_view message) {
    parser_->start_copied(message);
    cf::Command cmd;
    wsgate::proto::JsonOut out(reply_);
    while (true) {
        const cf::ParseStatus st = parser_->next(cmd);
        if (st == cf::ParseStatus::end_of_frame) break;
        if (st == cf::ParseStatus::bad_request) return false;
        switch (cmd.method) {
            case cf::Method::pong:
            case cf::Method::send:
                continue;
            case cf::Method::connect: {
                cf::append_separator(out);
                cf::ConnectResult r;
                r.client = "raw";
                r.version = "raw_fanout_server";
                cf::write_connect_reply(out, cmd.id, r);
                break;
            }
            case cf::Method::subscribe: {
                std::uint64_t top = 0;
                std::uint32_t id = 0;
                {
                    std::lock_guard lock(hub_.mutex);
                    auto [it, added] = hub_.ids.try_emplace(
                        std::string(cmd.channel), static_cast<std::uint32_t>(hub_.channels.size()));
                    if (added) {
                        hub_.channels.emplace_back();
                        hub_.channels.back().subscribers_per_loop.assign(hub_.loops.size(), 0);
                    }
                    id = it->second;
                    ++hub_.channels[id].subscribers_per_loop[index_];
                    top = hub_.channels[id].offset;
                }
                if (subscribers_.size() <= id) subscribers_.resize(id + 1);
                subscribers_[id].push_back(fd);
                conns_[fd].channels.push_back(id);
                cf::append_separator(out);
                cf::SubscribeResult r;
                r.positioned = true;
                r.epoch = kEpoch;
                r.offset = top;
                cf::begin_subscribe_reply(out, cmd.id, r);
                cf::end_subscribe_reply(out);
                break;
            }
            case cf::Method::publish:
                publish(cmd.channel, cmd.data);
                cf::append_separator(out);
                cf::write_empty_reply(out, cmd.id, cf::Method::publish);
                break;
            default:
                cf::append_separator(out);
                cf::write_error_reply(out, cmd.id, cf::ErrorCode::method_not_found);
                break;
        }
    }
    if (!out.ok()) return false;
    if (out.size() > 0) {
        out_.clear();
        append_server_frame(out_, 0x1, out.view());
        send_bytes(fd, out_);
    }
    return true;
}

// Builds the push frame once and posts it, in offset order, to every loop
// that holds subscribers of the channel (this one included).
std::uint64_t Loop::publish(std::string_view channel, std::string_view data) {
    std::lock_guard lock(hub_.mutex);
    auto [it, added] = hub_.ids.try_emplace(std::string(channel),
                                            static_cast<std::uint32_t>(hub_.channels.size()));
    if (added) {
        hub_.channels.emplace_back();
        hub_.channels.back().subscribers_per_loop.assign(hub_.loops.size(), 0);
    }
    Channel& ch = hub_.channels[it->second];
    cf::Publication pub;
    pub.data = data;
    pub.offset = ++ch.offset;
    std::vector<char> buffer(cf::publication_push_bound(channel, pub));
    wsgate::proto::JsonOut json(buffer);
    cf::write_publication_push(json, channel, pub);
    auto frame = std::make_shared<std::string>();
    append_server_frame(*frame, 0x1, json.view());
    for (std::size_t l = 0; l < hub_.loops.size(); ++l)
        if (ch.subscribers_per_loop[l] > 0) hub_.loops[l]->post(Job{frame, it->second});
    return pub.offset;
}

void Loop::drain_inbox() {
    {
        std::lock_guard lock(inbox_mutex_);
        draining_.swap(inbox_);
    }
    for (const Job& job : draining_) {
        if (job.channel >= subscribers_.size()) continue;
        // By index: a send that fails closes the subscriber, which moves the
        // list's last entry into its place.
        const auto& subs = subscribers_[job.channel];
        for (std::size_t k = 0; k < subs.size();) {
            const std::size_t before = subs.size();
            send_bytes(subs[k], *job.frame);
            if (subs.size() == before) ++k;
        }
    }
    draining_.clear();
}

void Loop::close_conn(int fd) {
    Conn& c = conns_[fd];
    if (!c.open) return;
    c.open = false;
    for (const std::uint32_t id : c.channels) {
        auto& subs = subscribers_[id];
        for (std::size_t k = 0; k < subs.size(); ++k) {
            if (subs[k] != fd) continue;
            subs[k] = subs.back();
            subs.pop_back();
            break;
        }
        std::lock_guard lock(hub_.mutex);
        --hub_.channels[id].subscribers_per_loop[index_];
    }
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    c = Conn{};
}

}  // namespace

int main(int argc, char** argv) {
    std::uint32_t ip = 0x7F000001;
    std::uint16_t port = 9310;
    unsigned threads = 1;
    double max_seconds = kDefaultMaxSeconds;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (a == "--listen" && v) {
            const std::string s(v);
            const std::size_t colon = s.rfind(':');
            in_addr addr{};
            if (colon == std::string::npos ||
                inet_pton(AF_INET, s.substr(0, colon).c_str(), &addr) != 1) {
                std::fprintf(stderr, "raw_fanout_server: bad --listen %s\n", v);
                return 2;
            }
            ip = ntohl(addr.s_addr);
            port = static_cast<std::uint16_t>(std::atoi(s.c_str() + colon + 1));
            ++i;
        } else if (a == "--threads" && v) {
            threads = static_cast<unsigned>(std::atoi(v));
            ++i;
        } else if (a == "--max-seconds" && v) {
            max_seconds = std::atof(v);
            ++i;
        } else {
            std::fprintf(stderr,
                         "usage: raw_fanout_server [--listen 127.0.0.1:9310] [--threads N] "
                         "[--max-seconds N]\n");
            return 2;
        }
    }
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    Hub hub;
    std::vector<std::unique_ptr<Loop>> loops;
    for (unsigned t = 0; t < threads; ++t) {
        loops.push_back(std::make_unique<Loop>(hub, t));
        hub.loops.push_back(loops.back().get());
        if (!loops.back()->start(ip, port)) return 1;
    }
    std::printf("raw_fanout_server: %u thread(s), listening on %u.%u.%u.%u:%u\n", threads, ip >> 24,
                (ip >> 16) & 0xFF, (ip >> 8) & 0xFF, ip & 0xFF, port);
    std::fflush(stdout);
    std::vector<std::thread> workers;
    for (unsigned t = 1; t < threads; ++t)
        workers.emplace_back([&, t] { loops[t]->run(max_seconds); });
    loops[0]->run(max_seconds);
    for (auto& w : workers)
        w.join();
    return 0;
}
