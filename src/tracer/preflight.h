// Why the kernel may refuse the tracer, told apart: missing capabilities, missing
// kernel features and memory limits each need a different fix from the user, so
// each gets its own message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace caretta::tracer {

struct Capabilities {
  bool sys_admin = false;
  bool bpf = false;
  bool perfmon = false;
  bool known = false;  // false: the status file could not be read
};

// The effective set from the `CapEff:` line of a /proc/PID/status file.
Capabilities EffectiveCapabilities(const std::string& status_path = "/proc/self/status");

// nullopt when `caps` are enough to load and attach the tracer (CAP_BPF and
// CAP_PERFMON, or CAP_SYS_ADMIN); otherwise what is missing, for the user.
std::optional<std::string> MissingPrivileges(const Capabilities& caps);

// The message for a failed load of the BPF object: `err` is libbpf's (negative
// errno); `kernel_bytes` what the maps ask of kernel memory.
std::string ExplainLoadFailure(int err, const Capabilities& caps, std::uint64_t kernel_bytes);

}  // namespace caretta::tracer
