// main() for the BPF tier: reports SKIP (exit 77, with the reason) when the
// preconditions are missing instead of passing silently.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "netns.h"
#include "tracer/bpf_tracer.h"

namespace {

// Discovery::kOpen lists sockets with iter/bpf_sk_storage_map, which some kernels
// (or their security modules) refuse while loading everything else: then the
// open-mode run cannot happen here, and says why.
std::string OpenDiscoveryProblem() {
  const char* mode = std::getenv("CARETTA_TEST_DISCOVERY");
  if (!mode || std::string(mode) != "open") return "";
  caretta::tracer::TracerConfig cfg;
  cfg.discovery = caretta::tracer::Discovery::kOpen;
  try {
    caretta::tracer::BpfTracer probe(cfg);
    return "";
  } catch (const caretta::tracer::TracerError& open_error) {
    cfg.discovery = caretta::tracer::Discovery::kTasks;
    try {
      caretta::tracer::BpfTracer tasks(cfg);
      if (!tasks.has_storage_walk())
        return "the kernel refuses iter/bpf_sk_storage_map, which SOCKET_DISCOVERY=open needs (" +
               std::string(open_error.what()) + ")";
    } catch (const caretta::tracer::TracerError&) {
    }
    return "";  // some other failure: let the tests report it
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string problem = caretta::testing::BpfPreconditionProblem();
  if (problem.empty()) problem = OpenDiscoveryProblem();
  if (!problem.empty()) {
    std::printf("SKIP: %s\n", problem.c_str());
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
