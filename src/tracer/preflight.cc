#include "tracer/preflight.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace caretta::tracer {
namespace {

// Bit numbers from linux/capability.h (CAP_BPF and CAP_PERFMON since 5.8).
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

}  // namespace

Capabilities EffectiveCapabilities(const std::string& status_path) {
  Capabilities caps;
  std::ifstream in(status_path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    std::uint64_t bits = 0;
    try {
      bits = std::stoull(line.substr(7), nullptr, 16);
    } catch (const std::exception&) {
      return caps;
    }
    caps.known = true;
    caps.sys_admin = bits >> kCapSysAdmin & 1;
    caps.perfmon = bits >> kCapPerfmon & 1;
    caps.bpf = bits >> kCapBpf & 1;
    break;
  }
  return caps;
}

std::optional<std::string> MissingPrivileges(const Capabilities& caps) {
  if (!caps.known || caps.sys_admin || (caps.bpf && caps.perfmon)) return std::nullopt;
  std::string missing;
  if (!caps.bpf) missing = "CAP_BPF";
  if (!caps.perfmon) missing += missing.empty() ? "CAP_PERFMON" : " and CAP_PERFMON";
  return "missing capabilities: the tracer needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); "
         "this process lacks " +
         missing + " (run as root, or grant them, e.g. the chart's securityContext)";
}

std::string ExplainLoadFailure(int err, const Capabilities& caps, std::uint64_t kernel_bytes) {
  const int e = err < 0 ? -err : err;
  if ((e == EPERM || e == EACCES) && MissingPrivileges(caps))
    return "the kernel refused the BPF programs (" + std::string(std::strerror(e)) +
           "): " + *MissingPrivileges(caps);
  if (e == ENOMEM || e == E2BIG)
    return "not enough kernel memory for the BPF maps (" + std::string(std::strerror(e)) +
           "; they ask about " + std::to_string(kernel_bytes >> 20) +
           " MiB): lower RINGBUF_KIB or MAX_CONNECTIONS, or raise the memory limit "
           "(the container's memory limit is charged for BPF maps; RLIMIT_MEMLOCK on "
           "kernels before 5.11)";
  return "the kernel rejected the BPF programs (" + std::string(std::strerror(e)) +
         "); they need BTF, tp_btf, iter/task_file with bpf_sock_from_file and "
         "iter/bpf_sk_storage_map (Linux >= 5.11); the verifier log above says which";
}

}  // namespace caretta::tracer
