#include "common/fd_limit.h"

#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <system_error>

namespace caretta::common {

FileLimit CurrentFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    throw std::system_error(errno, std::generic_category(), "getrlimit(RLIMIT_NOFILE)");
  return {static_cast<std::uint64_t>(lim.rlim_cur), static_cast<std::uint64_t>(lim.rlim_max)};
}

FileLimit RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    throw std::system_error(errno, std::generic_category(), "getrlimit(RLIMIT_NOFILE)");
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    // Fails only if another thread lowered the hard limit meanwhile: keep the old one.
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return {static_cast<std::uint64_t>(lim.rlim_cur), static_cast<std::uint64_t>(lim.rlim_max)};
}

std::uint64_t OpenFileCount() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  std::uint64_t n = 0;
  while (const dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ++n;
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // minus the directory's own descriptor
}

}  // namespace caretta::common
