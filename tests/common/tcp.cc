#include "tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace caretta::testing {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

bool IsV6(const std::string& ip) { return ip.find(':') != std::string::npos; }

socklen_t MakeAddr(const std::string& ip, std::uint16_t port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  if (IsV6(ip)) {
    auto* a = reinterpret_cast<sockaddr_in6*>(out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1)
      throw std::runtime_error("bad ip " + ip);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(out);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1) throw std::runtime_error("bad ip " + ip);
  return sizeof *a;
}

}  // namespace

const char* MethodName(SendMethod m) {
  switch (m) {
    case SendMethod::kSend:
      return "send";
    case SendMethod::kWrite:
      return "write";
    case SendMethod::kWritev:
      return "writev";
    case SendMethod::kSendmsg:
      return "sendmsg";
    case SendMethod::kSendfile:
      return "sendfile";
    case SendMethod::kSplice:
      return "splice";
  }
  return "?";
}

Socket::~Socket() { Close(); }

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::uint16_t Socket::LocalPort() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) Fail("getsockname");
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

Socket NewSocket(const std::string& ip) {
  int fd = socket(IsV6(ip) ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  return Socket(fd);
}

Socket Listen(const std::string& ip, std::uint16_t port, int backlog) {
  Socket s = NewSocket(ip);
  int one = 1;
  if (setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) Fail("setsockopt");
  sockaddr_storage ss;
  socklen_t len = MakeAddr(ip, port, &ss);
  if (bind(s.fd(), reinterpret_cast<sockaddr*>(&ss), len) != 0) Fail("bind " + ip);
  if (listen(s.fd(), backlog) != 0) Fail("listen");
  return s;
}

bool Connect(const Socket& s, const std::string& ip, std::uint16_t port) {
  sockaddr_storage ss;
  socklen_t len = MakeAddr(ip, port, &ss);
  if (connect(s.fd(), reinterpret_cast<sockaddr*>(&ss), len) == 0) return true;
  if (errno == ECONNREFUSED) return false;
  Fail("connect " + ip);
}

Socket Accept(const Socket& listener) {
  int fd = accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) Fail("accept");
  return Socket(fd);
}

void SendAll(const Socket& s, const std::string& data, SendMethod method) {
  std::size_t off = 0;
  switch (method) {
    case SendMethod::kSend:
    case SendMethod::kWrite:
    case SendMethod::kSendmsg:
    case SendMethod::kWritev:
      while (off < data.size()) {
        const char* p = data.data() + off;
        std::size_t left = data.size() - off;
        ssize_t n;
        if (method == SendMethod::kSend) {
          n = send(s.fd(), p, left, MSG_NOSIGNAL);
        } else if (method == SendMethod::kWrite) {
          n = write(s.fd(), p, left);
        } else {
          // Two iovecs so the vector path really splits the buffer.
          std::size_t half = left / 2;
          iovec iov[2] = {{const_cast<char*>(p), half}, {const_cast<char*>(p) + half, left - half}};
          if (method == SendMethod::kWritev) {
            n = writev(s.fd(), iov, 2);
          } else {
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = 2;
            n = sendmsg(s.fd(), &msg, MSG_NOSIGNAL);
          }
        }
        if (n < 0) {
          if (errno == EINTR) continue;
          Fail(MethodName(method));
        }
        off += static_cast<std::size_t>(n);
      }
      return;
    case SendMethod::kSendfile: {
      int mfd = memfd_create("payload", MFD_CLOEXEC);
      if (mfd < 0) Fail("memfd_create");
      Socket file(mfd);  // closes the memfd
      std::size_t w = 0;
      while (w < data.size()) {
        ssize_t n = write(mfd, data.data() + w, data.size() - w);
        if (n < 0) Fail("write memfd");
        w += static_cast<std::size_t>(n);
      }
      off_t pos = 0;
      while (static_cast<std::size_t>(pos) < data.size()) {
        ssize_t n = sendfile(s.fd(), mfd, &pos, data.size() - static_cast<std::size_t>(pos));
        if (n < 0) {
          if (errno == EINTR) continue;
          Fail("sendfile");
        }
      }
      return;
    }
    case SendMethod::kSplice: {
      int pipefd[2];
      if (pipe2(pipefd, O_CLOEXEC) != 0) Fail("pipe2");
      Socket rd(pipefd[0]), wr(pipefd[1]);
      while (off < data.size()) {
        std::size_t chunk = std::min<std::size_t>(data.size() - off, 16384);
        ssize_t n = write(wr.fd(), data.data() + off, chunk);
        if (n < 0) Fail("write pipe");
        std::size_t in_pipe = static_cast<std::size_t>(n);
        while (in_pipe > 0) {
          ssize_t m = splice(rd.fd(), nullptr, s.fd(), nullptr, in_pipe, SPLICE_F_MOVE);
          if (m < 0) {
            if (errno == EINTR) continue;
            Fail("splice");
          }
          in_pipe -= static_cast<std::size_t>(m);
        }
        off += static_cast<std::size_t>(n);
      }
      return;
    }
  }
}

std::string RecvExact(const Socket& s, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = recv(s.fd(), out.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      Fail("recv");
    }
    if (r == 0) throw std::runtime_error("peer closed after " + std::to_string(got) + " bytes");
    got += static_cast<std::size_t>(r);
  }
  return out;
}

std::string Payload(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

}  // namespace caretta::testing
