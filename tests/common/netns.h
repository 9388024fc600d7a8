// Test-only network: network namespaces joined by a bridge, created by the test and
// removed in the destructor (also after a failed assertion). All traffic of the
// tests stays inside these namespaces or on loopback.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace caretta::testing {

// Why the BPF tier cannot run here, or "" when it can (root + BPF + netns).
std::string BpfPreconditionProblem();

struct TestHost {
  std::string netns;  // name under /var/run/netns
  std::string ipv4;   // 10.231.N.x
  std::string ipv6;   // fd00:ca:N::x
};

class TestNetwork {
 public:
  // Creates `hosts` namespaces on one bridge (in its own namespace), each with an
  // IPv4 and an IPv6 address.
  explicit TestNetwork(int hosts);
  ~TestNetwork();
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  const TestHost& host(int i) const { return hosts_.at(i); }
  // Runs `fn` on a thread that has entered host i's network namespace; sockets
  // created there belong to it. Blocks until `fn` returns.
  void RunIn(int i, const std::function<void()>& fn) const;
  // Network-namespace inode of host i.
  unsigned NetnsInode(int i) const;

 private:
  std::string prefix_;
  std::string bridge_ns_;
  std::vector<TestHost> hosts_;
};

// Runs a shell command; throws std::runtime_error with its output on failure.
void Run(const std::string& command);

}  // namespace caretta::testing
