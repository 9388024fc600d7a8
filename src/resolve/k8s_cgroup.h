// Pod UIDs from the host's cgroup v2 tree: a socket's cgroup id is the inode number
// of its cgroup directory, and kubelet names pod cgroups after the pod UID
// (`kubepods-burstable-pod<uid with _>.slice` with systemd, `pod<uid>` with cgroupfs).
// This is how a hostNetwork pod, which shares the node's IP, is told apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "k8s/objects.h"

namespace caretta::resolve {

// The pod UID a cgroup directory name carries, if any.
std::optional<k8s::Uid> PodUidFromCgroupName(std::string_view name);

// cgroup id → pod UID for every directory under `root`: the UID of the pod cgroup
// at or above it, or an empty Uid outside any pod (so known ids need no rescan).
std::unordered_map<std::uint64_t, k8s::Uid> ScanPodCgroups(const std::string& root);

}  // namespace caretta::resolve
