#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "resolve/k8s_cgroup.h"

namespace caretta::resolve {
namespace {

namespace fs = std::filesystem;

const k8s::Uid kUid = k8s::Uid::Parse("be1e1466-d96c-5902-ab7c-20a0359caca2");

TEST(PodUidFromCgroupName, SystemdAndCgroupfsDrivers) {
  EXPECT_EQ(
      PodUidFromCgroupName("kubepods-besteffort-podbe1e1466_d96c_5902_ab7c_20a0359caca2.slice"),
      kUid);
  EXPECT_EQ(PodUidFromCgroupName("podbe1e1466-d96c-5902-ab7c-20a0359caca2"), kUid);
  EXPECT_EQ(PodUidFromCgroupName("kubepods-pod6d5f8e2a9b1c4d3e8f7a6b5c4d3e2f1a.slice"),
            k8s::Uid::Parse("6d5f8e2a9b1c4d3e8f7a6b5c4d3e2f1a"));
  EXPECT_FALSE(PodUidFromCgroupName("kubepods-burstable.slice"));
  EXPECT_FALSE(PodUidFromCgroupName("cri-containerd-0123abcd.scope"));
  EXPECT_FALSE(PodUidFromCgroupName("podman-1234.scope"));
}

std::uint64_t Inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0);
  return st.st_ino;
}

TEST(ScanPodCgroups, ContainersInheritTheirPodsUid) {
  char tmpl[] = "/tmp/caretta-cgroup-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path root = tmpl;
  fs::path pod = root / "kubepods.slice/kubepods-besteffort.slice" /
                 "kubepods-besteffort-podbe1e1466_d96c_5902_ab7c_20a0359caca2.slice";
  fs::path container = pod / "cri-containerd-abc.scope";
  fs::create_directories(container);
  fs::create_directories(root / "system.slice/ssh.service");
  fs::create_directory_symlink(pod, root / "loop");  // symlinks are not followed

  auto map = ScanPodCgroups(root);
  EXPECT_EQ(map.at(Inode(container)), kUid);
  EXPECT_EQ(map.at(Inode(pod)), kUid);
  EXPECT_TRUE(map.at(Inode(root / "system.slice/ssh.service")).empty());  // known, no pod
  EXPECT_TRUE(map.at(Inode(root)).empty());
  EXPECT_TRUE(ScanPodCgroups((root / "absent").string()).empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace caretta::resolve
