// Test-only TCP helpers: real sockets, every syscall checked.
#pragma once

#include <cstdint>
#include <string>

namespace caretta::testing {

enum class SendMethod { kSend, kWrite, kWritev, kSendmsg, kSendfile, kSplice };
const char* MethodName(SendMethod m);

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  int fd() const { return fd_; }
  void Close();
  std::uint16_t LocalPort() const;

 private:
  int fd_ = -1;
};

// Must be called on a thread inside the wanted network namespace.
Socket Listen(const std::string& ip, std::uint16_t port = 0, int backlog = 4096);
Socket NewSocket(const std::string& ip_family_of);  // unconnected TCP socket
// Connects; returns false on ECONNREFUSED, throws on other errors.
bool Connect(const Socket& s, const std::string& ip, std::uint16_t port);
Socket Accept(const Socket& listener);

void SendAll(const Socket& s, const std::string& data, SendMethod method);
std::string RecvExact(const Socket& s, std::size_t n);
// Pattern payload of n bytes.
std::string Payload(std::size_t n, char seed = 'a');

}  // namespace caretta::testing
