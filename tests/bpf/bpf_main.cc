// main() for the BPF tier: reports SKIP (exit 77, with the reason) when the
// preconditions are missing instead of passing silently.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "netns.h"
#include "tracer/bpf_tracer.h"

namespace {

// Open mode lists sockets with iter/bpf_sk_storage_map, which some kernels refuse
// (the tracer says so); without it that mode cannot be tested here.
std::string OpenModeProblem() {
  const char* mode = std::getenv("CARETTA_TEST_DISCOVERY");
  if (!mode || std::string(mode) != "open") return "";
  caretta::tracer::TracerConfig cfg;
  cfg.discovery = caretta::tracer::Discovery::kOpen;
  try {
    caretta::tracer::BpfTracer probe(cfg);
  } catch (const caretta::tracer::TracerError& e) {
    if (std::string(e.what()).find("kernel refuses") != std::string::npos) return e.what();
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string problem = caretta::testing::BpfPreconditionProblem();
  if (problem.empty()) problem = OpenModeProblem();
  if (!problem.empty()) {
    std::printf("SKIP: %s\n", problem.c_str());
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
