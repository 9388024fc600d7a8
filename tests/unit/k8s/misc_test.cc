#include <gtest/gtest.h>

#include "k8s/api_client.h"
#include "k8s/reflector.h"
#include "k8s/resources.h"

namespace caretta::k8s {
namespace {

TEST(WatchedResources, EmbeddedListIsDecodable) {
  auto resources = WatchedResources();
  ASSERT_EQ(resources.size(), 10u);
  std::vector<std::string> paths;
  for (const auto& r : resources) paths.push_back(r.CollectionPath(r.version));
  EXPECT_EQ(paths[0], "/api/v1/pods");
  EXPECT_EQ(paths[3], "/apis/discovery.k8s.io/v1/endpointslices");
  EXPECT_EQ(paths[9], "/apis/batch/v1/cronjobs");
  EXPECT_EQ(resources[9].fallback_versions, std::vector<std::string>{"v1beta1"});
  EXPECT_EQ(resources[4].kind, "ReplicaSet");
  EXPECT_NE(EmbeddedWatchedResourcesJson().find("\"endpointslices\""), std::string_view::npos);
}

TEST(Backoff, GrowsToTheCapWithJitterAndResets) {
  Backoff b(BackoffPolicy{std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 0.5},
            42);
  std::vector<std::int64_t> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(b.Next().count());
  EXPECT_GE(delays[0], 50);
  EXPECT_LE(delays[0], 100);
  EXPECT_GE(delays[3], 400);
  EXPECT_LE(delays[3], 800);
  for (int i = 4; i < 8; ++i) {
    EXPECT_GE(delays[i], 500);
    EXPECT_LE(delays[i], 1000);
  }
  b.Reset();
  EXPECT_LE(b.Next().count(), 100);
}

TEST(QueryEscape, EscapesReservedCharacters) {
  EXPECT_EQ(QueryEscape("a b&c=d/e"), "a%20b%26c%3Dd%2Fe");
  EXPECT_EQ(QueryEscape("eyJ2-_.~"), "eyJ2-_.~");
}

TEST(TokenSource, RereadsTheFileWhenItChanges) {
  char tmpl[] = "/tmp/caretta-token-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string path = tmpl;
  auto write = [&](const std::string& s) {
    std::string tmp = path + ".new";
    FILE* f = fopen(tmp.c_str(), "w");
    fputs(s.c_str(), f);
    fclose(f);
    rename(tmp.c_str(), path.c_str());  // as kubelet does: atomic replace
  };
  write("first\n");
  TokenSource tokens("", path);
  EXPECT_EQ(tokens.Current(), "first");
  write("second\n");
  EXPECT_EQ(tokens.Current(), "second");
  write("");
  EXPECT_EQ(tokens.Current(), "second");  // an empty file keeps the last good token
  unlink(path.c_str());
}

}  // namespace
}  // namespace caretta::k8s
