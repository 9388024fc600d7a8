#include "tracer/preflight.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

namespace caretta::tracer {
namespace {

// A /proc/PID/status with the given CapEff line.
std::string StatusFile(const std::string& cap_eff) {
  char path[] = "/tmp/caretta-status-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "Name:\tcaretta\nCapInh:\t0000000000000000\nCapEff:\t" << cap_eff
                      << "\nCapBnd:\t000001ffffffffff\n";
  return path;
}

Capabilities Caps(const std::string& cap_eff) {
  std::string path = StatusFile(cap_eff);
  Capabilities caps = EffectiveCapabilities(path);
  std::remove(path.c_str());
  return caps;
}

TEST(Preflight, BpfAndPerfmonOrSysAdminAreEnough) {
  EXPECT_FALSE(MissingPrivileges(Caps("000000c000000000")));  // BPF + PERFMON
  EXPECT_FALSE(MissingPrivileges(Caps("0000000000200000")));  // SYS_ADMIN
  EXPECT_FALSE(MissingPrivileges(Caps("000001fffeffffff")));  // root without SYS_RESOURCE
}

TEST(Preflight, NamesWhatIsMissing) {
  auto none = MissingPrivileges(Caps("0000000000000000"));
  ASSERT_TRUE(none);
  EXPECT_NE(none->find("CAP_BPF and CAP_PERFMON"), std::string::npos) << *none;
  auto perfmon_only = MissingPrivileges(Caps("0000004000000000"));
  ASSERT_TRUE(perfmon_only);
  EXPECT_NE(perfmon_only->find("lacks CAP_BPF ("), std::string::npos) << *perfmon_only;
}

TEST(Preflight, UnreadableStatusDecidesNothing) {
  Capabilities caps = EffectiveCapabilities("/nonexistent/status");
  EXPECT_FALSE(caps.known);
  EXPECT_FALSE(MissingPrivileges(caps));
  EXPECT_FALSE(MissingPrivileges(Caps("not-hex")));
}

TEST(Preflight, LoadFailuresNameTheirCause) {
  Capabilities none = Caps("0000000000000000");
  Capabilities root = Caps("000001ffffffffff");
  EXPECT_NE(ExplainLoadFailure(-EPERM, none, 0).find("missing capabilities"), std::string::npos);
  EXPECT_NE(ExplainLoadFailure(-ENOMEM, root, 1u << 30).find("RINGBUF_KIB"), std::string::npos);
  EXPECT_NE(ExplainLoadFailure(-ENOMEM, root, 1u << 30).find("1024 MiB"), std::string::npos);
  EXPECT_NE(ExplainLoadFailure(-EINVAL, root, 0).find("Linux >= 5.11"), std::string::npos);
}

}  // namespace
}  // namespace caretta::tracer
