// main() for the BPF tier: reports SKIP (exit 77, with the reason) when the
// preconditions are missing instead of passing silently.
#include <gtest/gtest.h>

#include <cstdio>

#include "netns.h"

int main(int argc, char** argv) {
  std::string problem = caretta::testing::BpfPreconditionProblem();
  if (!problem.empty()) {
    std::printf("SKIP: %s\n", problem.c_str());
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
