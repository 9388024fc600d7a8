#include "hostile_apiserver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace caretta::k8s::testing {
namespace {

std::string Decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

std::size_t StatusField(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(std::strlen(key))) * 1024;
  }
  return 0;
}

}  // namespace

bool HostileWriter::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    if (stopping_->load()) return false;
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // re-checks stopping_
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void HostileWriter::HoldOpen(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!stopping_->load() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 50) > 0) return;  // the client sent something or left
  }
}

bool HostileWriter::Head(int status, std::string_view extra_headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
                     "\r\nContent-Type: application/json\r\nConnection: close\r\n";
  head += extra_headers;
  head += "\r\n";
  return Send(head);
}

HostileApiServer::HostileApiServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(listen_fd_);
    throw std::runtime_error("bind/listen on 127.0.0.1 failed");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

HostileApiServer::~HostileApiServer() {
  stopping_ = true;
  acceptor_.join();
  std::vector<Connection> connections;
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& c : connections) c.thread.join();
  close(listen_fd_);
}

std::vector<std::string> HostileApiServer::list_queries() {
  std::lock_guard lock(mu_);
  return list_queries_;
}

void HostileApiServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    std::erase_if(connections_, [](Connection& c) {
      if (!c.done->load()) return false;
      c.thread.join();
      return true;
    });
    open_fds_.push_back(fd);
    auto done = std::make_shared<std::atomic<bool>>(false);
    connections_.push_back({std::thread([this, fd, done] {
                              Serve(fd);
                              *done = true;
                            }),
                            done});
  }
}

void HostileApiServer::Serve(int fd) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 && !stopping_) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  HostileRequest request;
  const auto sp1 = head.find(' ');
  const auto sp2 = head.find(' ', sp1 + 1);
  if (sp1 != std::string::npos && sp2 != std::string::npos) {
    std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string_view query = std::string_view(target).substr(q + 1);
      while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view kv = query.substr(0, amp);
        auto eq = kv.find('=');
        request.params[Decode(kv.substr(0, eq))] =
            eq == std::string_view::npos ? "" : Decode(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
      if (!request.watch()) {
        std::lock_guard lock(mu_);
        list_queries_.push_back(target.substr(q + 1));
      }
    }
    ++(request.watch() ? watches_ : lists_);
    HostileWriter writer(fd, &stopping_);
    handler_(request, writer);
  }
  std::lock_guard lock(mu_);
  shutdown(fd, SHUT_RDWR);
  close(fd);
  std::erase(open_fds_, fd);
}

bool SendRepeated(HostileWriter& w, std::string_view unit, std::size_t total_bytes) {
  std::string block;
  while (block.size() < (64u << 10)) block += unit;
  for (std::size_t sent = 0; sent < total_bytes; sent += block.size()) {
    if (!w.Send(std::string_view(block).substr(0, std::min(block.size(), total_bytes - sent))))
      return false;
  }
  return true;
}

std::string GzipBomb(std::string_view prefix, std::string_view unit, std::size_t repeat,
                     std::string_view suffix) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out;
  auto run = [&](std::string_view in, int flush) {
    std::string chunk;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    char buf[1 << 16];
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      deflate(&z, flush);
      chunk.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0 || z.avail_in > 0);
    return chunk;
  };
  out += run(prefix, Z_FULL_FLUSH);
  // After a full flush nothing refers back, so one compressed copy serves them all.
  const std::string block = run(unit, Z_FULL_FLUSH);
  for (std::size_t i = 0; i < repeat; ++i) out += block;
  out += run(suffix, Z_FINISH);
  deflateEnd(&z);
  // The trailer zlib wrote covers what it saw; patch in the whole stream's CRC and size.
  auto crc_of = [](std::string_view s) {
    return crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
  };
  uLong crc = crc_of(prefix);
  const uLong unit_crc = crc_of(unit);
  for (std::size_t i = 0; i < repeat; ++i)
    crc = crc32_combine(crc, unit_crc, static_cast<z_off_t>(unit.size()));
  crc = crc32_combine(crc, crc_of(suffix), static_cast<z_off_t>(suffix.size()));
  const std::uint32_t size =
      static_cast<std::uint32_t>(prefix.size() + repeat * unit.size() + suffix.size());
  for (int i = 0; i < 4; ++i) {
    out[out.size() - 8 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    out[out.size() - 4 + i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  return out;
}

std::size_t CurrentRss() { return StatusField("VmRSS:"); }
std::size_t PeakRss() { return StatusField("VmHWM:"); }

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace caretta::k8s::testing
