#include "resolve/k8s_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

namespace caretta::resolve {
namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Depth-first walk with directory fds (openat), never following symlinks.
void Walk(int dir_fd, const std::optional<k8s::Uid>& inherited, int depth,
          std::unordered_map<std::uint64_t, k8s::Uid>& out) {
  if (depth > 12) return;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dir_fd), closedir);
  if (!dir) {
    close(dir_fd);
    return;
  }
  while (dirent* entry = readdir(dir.get())) {
    if (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN) continue;
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    int child =
        openat(dirfd(dir.get()), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) continue;
    struct stat st {};
    if (fstat(child, &st) != 0) {
      close(child);
      continue;
    }
    std::optional<k8s::Uid> uid = PodUidFromCgroupName(name);
    if (!uid) uid = inherited;
    out.insert_or_assign(static_cast<std::uint64_t>(st.st_ino), uid.value_or(k8s::Uid{}));
    Walk(child, uid, depth + 1, out);  // takes ownership of `child`
  }
}

}  // namespace

std::optional<k8s::Uid> PodUidFromCgroupName(std::string_view name) {
  for (std::size_t at = name.find("pod"); at != std::string_view::npos;
       at = name.find("pod", at + 1)) {
    std::size_t i = at + 3;
    std::string uid;
    while (i < name.size() && uid.size() < 36 &&
           (IsHex(name[i]) || name[i] == '-' || name[i] == '_')) {
      uid.push_back(name[i] == '_' ? '-' : name[i]);
      ++i;
    }
    // A full UUID, or the 32 hex digits kubelet uses as the UID of a static pod.
    bool uuid =
        uid.size() == 36 && uid[8] == '-' && uid[13] == '-' && uid[18] == '-' && uid[23] == '-';
    bool hash = uid.size() == 32 && uid.find('-') == std::string::npos;
    if (uuid || hash) return k8s::Uid::Parse(uid);
  }
  return std::nullopt;
}

std::unordered_map<std::uint64_t, k8s::Uid> ScanPodCgroups(const std::string& root) {
  std::unordered_map<std::uint64_t, k8s::Uid> out;
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st {};
  if (fstat(fd, &st) == 0) out.emplace(static_cast<std::uint64_t>(st.st_ino), k8s::Uid{});
  Walk(fd, std::nullopt, 0, out);
  return out;
}

}  // namespace caretta::resolve
