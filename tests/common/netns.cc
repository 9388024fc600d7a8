#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace caretta::testing {

void Run(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int rc = pclose(p);
  if (rc != 0)
    throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + command + "\n" +
                             out);
}

std::string BpfPreconditionProblem() {
  if (geteuid() != 0) return "not root: the BPF tier needs root (CAP_BPF, CAP_NET_ADMIN)";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return "no kernel BTF at /sys/kernel/btf/vmlinux";
  if (system("ip netns list >/dev/null 2>&1") != 0) return "iproute2 'ip netns' unavailable";
  return "";
}

TestNetwork::TestNetwork(int hosts) {
  // Short unique prefix: interface names are limited to 15 characters.
  prefix_ = "ct" + std::to_string(getpid() % 100000);
  bridge_ns_ = prefix_ + "br";
  static int instance = 0;
  int subnet = 10 + (getpid() + instance++) % 200;
  try {
    Run("ip netns add " + bridge_ns_);
    Run("ip -n " + bridge_ns_ + " link add br0 type bridge");
    Run("ip -n " + bridge_ns_ + " link set br0 up");
    for (int i = 0; i < hosts; ++i) {
      TestHost h;
      h.netns = prefix_ + "h" + std::to_string(i);
      h.ipv4 = "10.231." + std::to_string(subnet) + "." + std::to_string(i + 2);
      h.ipv6 = "fd00:ca:" + std::to_string(subnet) + "::" + std::to_string(i + 2);
      std::string veth = prefix_ + "v" + std::to_string(i);
      Run("ip netns add " + h.netns);
      hosts_.push_back(h);
      Run("ip link add " + veth + " netns " + bridge_ns_ + " type veth peer name eth0 netns " +
          h.netns);
      Run("ip -n " + bridge_ns_ + " link set " + veth + " master br0 up");
      Run("ip -n " + h.netns + " link set lo up");
      Run("ip -n " + h.netns + " addr add " + h.ipv4 + "/24 dev eth0");
      Run("ip -n " + h.netns + " addr add " + h.ipv6 + "/64 dev eth0 nodad");
      Run("ip -n " + h.netns + " link set eth0 up");
    }
  } catch (...) {
    this->~TestNetwork();
    throw;
  }
}

TestNetwork::~TestNetwork() {
  for (const TestHost& h : hosts_)
    (void)!system(("ip netns del " + h.netns + " 2>/dev/null").c_str());
  (void)!system(("ip netns del " + bridge_ns_ + " 2>/dev/null").c_str());
  hosts_.clear();
}

void TestNetwork::RunIn(int i, const std::function<void()>& fn) const {
  std::string path = "/var/run/netns/" + hosts_.at(i).netns;
  std::exception_ptr error;
  std::thread t([&] {
    try {
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
      int rc = setns(fd, CLONE_NEWNET);
      int err = errno;
      close(fd);
      if (rc != 0) throw std::runtime_error("setns " + path + ": " + std::strerror(err));
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

unsigned TestNetwork::NetnsInode(int i) const {
  struct stat st {};
  std::string path = "/var/run/netns/" + hosts_.at(i).netns;
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path);
  return static_cast<unsigned>(st.st_ino);
}

}  // namespace caretta::testing
