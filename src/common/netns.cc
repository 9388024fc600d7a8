#include "common/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_set>

namespace caretta::common {
namespace {

std::uint32_t InodeOf(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint32_t>(st.st_ino) : 0;
}

template <typename Fn>
void ForEachEntry(const std::string& dir, Fn fn) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') fn(std::string(e->d_name));
  }
  closedir(d);
}

}  // namespace

std::vector<NetnsRef> EnumerateNetns(const std::string& proc_root, const std::string& netns_dir,
                                     bool include_processes) {
  std::vector<NetnsRef> out;
  std::unordered_set<std::uint32_t> seen;
  auto add = [&](std::string path, std::string name) {
    std::uint32_t inode = InodeOf(path);
    if (inode != 0 && seen.insert(inode).second)
      out.push_back(NetnsRef{std::move(path), std::move(name), inode});
  };
  add(proc_root + "/1/ns/net", "");
  ForEachEntry(netns_dir, [&](const std::string& n) { add(netns_dir + "/" + n, n); });
  if (include_processes) {
    ForEachEntry(proc_root, [&](const std::string& pid) {
      if (std::isdigit(static_cast<unsigned char>(pid[0])))
        add(proc_root + "/" + pid + "/ns/net", "");
    });
  }
  return out;
}

bool RunInNetns(const std::string& path, const std::function<void()>& fn, std::string* error) {
  bool ok = false;
  std::thread t([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *error = "open " + path + ": " + std::strerror(errno);
      return;
    }
    int rc = setns(fd, CLONE_NEWNET);
    int err = errno;
    close(fd);
    if (rc != 0) {
      *error = "setns " + path + ": " + std::strerror(err);
      return;
    }
    fn();
    ok = true;
  });
  t.join();
  return ok;
}

}  // namespace caretta::common
