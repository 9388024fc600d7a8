// File descriptors: the agent's poll needs some (BPF iterators, netns handles,
// API sockets), so client connections must never take the last ones.
#pragma once

#include <cstdint>

namespace caretta::common {

struct FileLimit {
  std::uint64_t soft = 0;  // RLIMIT_NOFILE as in force after the call
  std::uint64_t hard = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard limit (never lowers it). Call once at
// start-up, before threads open many files. Throws std::system_error when the
// limit cannot be read; a refused raise keeps the old soft limit (returned).
FileLimit RaiseFileLimit();

// The soft and hard RLIMIT_NOFILE now; throws std::system_error on failure.
FileLimit CurrentFileLimit();

// Descriptors this process has open now (entries of /proc/self/fd); 0 if unknown.
std::uint64_t OpenFileCount();

}  // namespace caretta::common
