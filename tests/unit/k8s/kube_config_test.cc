#include "k8s/kube_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace caretta::k8s {
namespace {

namespace fs = std::filesystem;

class KubeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/caretta-kubeconfig-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    fs::create_directories(fs::path(dir_ + "/" + name).parent_path());
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }
  EnvLookup Env() {
    return [this](const std::string& k) -> std::optional<std::string> {
      auto it = env_.find(k);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  std::string dir_;
  std::map<std::string, std::string> env_;
};

constexpr char kTokenConfig[] = R"(apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://127.0.0.1:6443/
  name: prod
- cluster:
    server: https://other:443
    insecure-skip-tls-verify: true
  name: other
contexts:
- context:
    cluster: prod
    user: admin
  name: prod-ctx
- context: {cluster: other, user: cert-user}
  name: other-ctx
current-context: prod-ctx
preferences: {}
users:
- name: admin
  user:
    token: "s3cret"
- name: cert-user
  user:
    client-certificate: certs/client.crt
    client-key: certs/client.key
)";

TEST_F(KubeConfigTest, TokenAndCaDataFromCurrentContext) {
  auto c = LoadKubeconfig({Write("config", kTokenConfig)});
  EXPECT_EQ(c.server, "https://127.0.0.1:6443");
  EXPECT_EQ(c.ca_pem, "-----BEGIN");
  EXPECT_EQ(c.token, "s3cret");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
}

TEST_F(KubeConfigTest, ClientCertificatePathsAreRelativeToTheFile) {
  std::string text = kTokenConfig;
  text.replace(text.find("current-context: prod-ctx"), 25, "current-context: other-ctx");
  Write("certs/client.crt", "crt");
  Write("certs/client.key", "key");
  auto c = LoadKubeconfig({Write("config", text)});
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.client_cert_file, dir_ + "/certs/client.crt");
  EXPECT_EQ(c.client_key_file, dir_ + "/certs/client.key");
}

TEST_F(KubeConfigTest, TokenFileAndInlineCertData) {
  Write("tok", "abc\n");
  Write("ca.pem", "ca");
  auto c = LoadKubeconfig({Write("config", R"(clusters:
- name: c
  cluster: {server: "https://[::1]:8443", certificate-authority: ca.pem}
users:
- name: u
  user: {tokenFile: tok, client-certificate-data: Y2VydA==, client-key-data: a2V5}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
)")});
  EXPECT_EQ(c.token_file, dir_ + "/tok");
  EXPECT_EQ(c.client_cert_pem, "cert");
  EXPECT_EQ(c.client_key_pem, "key");
  EXPECT_EQ(c.server, "https://[::1]:8443");
}

TEST_F(KubeConfigTest, BrokenConfigsSayWhatIsWrong) {
  auto message = [&](const std::string& text) {
    try {
      LoadKubeconfig({Write("bad", text)});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("clusters: [\n").find("invalid YAML"), std::string::npos);
  EXPECT_NE(message("current-context: nope\n").find("\"nope\" is not defined"), std::string::npos);
  EXPECT_NE(message("contexts: [{name: a, context: {cluster: zz}}]\ncurrent-context: a\n")
                .find("unknown cluster"),
            std::string::npos);
  EXPECT_NE(message(std::string(kTokenConfig) + "\n").find("no error"), std::string::npos);
  std::string exec_only = R"(clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
current-context: a
)";
  EXPECT_NE(message(exec_only).find("exec credential plugin"), std::string::npos);
}

// A kubeconfig is read, never expanded: whatever a file holds, the loader's memory
// stays bounded and the error names the problem.
TEST_F(KubeConfigTest, HostileFilesAreRefusedWithAClearError) {
  auto message = [&](const std::string& path) {
    try {
      LoadKubeconfig({path});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Billion laughs: 9 levels of 9 aliases, ~10^9 scalars once expanded.
  std::string laughs =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    laughs += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) laughs += std::string(i ? "," : "") + "*" + prev;
    laughs += "]\n";
  }
  laughs += "current-context: i\n";
  ASSERT_LT(laughs.size(), 700u);
  EXPECT_NE(message(Write("laughs", laughs)).find("YAML aliases (*name) are not accepted"),
            std::string::npos);
  // One alias is enough to be refused; an anchor alone is harmless.
  const std::string one_alias = std::string(kTokenConfig) + "x: &anchor 1\ny: *anchor\n";
  EXPECT_NE(message(Write("alias", one_alias)).find("line"), std::string::npos);
  EXPECT_EQ(message(Write("anchor", std::string(kTokenConfig) + "x: &anchor 1\n")), "no error");

  // 100 MB (sparse: nothing is written to disk) is refused before it is read.
  const std::string big = dir_ + "/big";
  { std::ofstream(big) << "apiVersion: v1\n"; }
  fs::resize_file(big, 100u << 20);
  EXPECT_NE(message(big).find("larger than 1048576 bytes"), std::string::npos);

  // Deep nesting, flow and block style.
  EXPECT_NE(message(Write("deep", "a: " + std::string(10000, '[') + std::string(10000, ']')))
                .find("nested deeper than 32 levels"),
            std::string::npos);
  std::string block;
  for (int i = 0; i < 100; ++i) block += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
  EXPECT_NE(message(Write("deep-block", block)).find("nested deeper"), std::string::npos);
}

TEST_F(KubeConfigTest, SearchOrder) {
  ConfigSearch search;
  search.env = Env();
  search.service_account_dir = dir_ + "/sa";
  EXPECT_FALSE(FindClusterConfig(search).has_value());  // nothing anywhere: host view

  env_["HOME"] = dir_ + "/home";
  Write("home/.kube/config", kTokenConfig);
  EXPECT_EQ(FindClusterConfig(search)->source, dir_ + "/home/.kube/config");

  std::string other = kTokenConfig;
  other.replace(other.find("s3cret"), 6, "fromenv");
  env_["KUBECONFIG"] = dir_ + "/missing:" + Write("env/config", other);
  EXPECT_EQ(FindClusterConfig(search)->token, "fromenv");

  env_["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  env_["KUBERNETES_SERVICE_PORT"] = "443";
  EXPECT_THROW(FindClusterConfig(search), ConfigError);  // in a pod without its token
  Write("sa/token", "pod-token\n");
  Write("sa/ca.crt", "ca");
  auto in_cluster = FindClusterConfig(search);
  EXPECT_EQ(in_cluster->server, "https://10.96.0.1:443");
  EXPECT_EQ(in_cluster->token_file, dir_ + "/sa/token");
  EXPECT_EQ(in_cluster->source, "in-cluster");

  search.kubeconfig = dir_ + "/home/.kube/config";  // the flag beats everything
  EXPECT_EQ(FindClusterConfig(search)->token, "s3cret");
  search.kubeconfig = dir_ + "/nope";
  EXPECT_THROW(FindClusterConfig(search), ConfigError);
}

TEST_F(KubeConfigTest, InClusterIpv6Host) {
  Write("sa/token", "t");
  Write("sa/ca.crt", "ca");
  EXPECT_EQ(InClusterConfig("fd00::1", "6443", dir_ + "/sa").server, "https://[fd00::1]:6443");
}

TEST(Base64, DecodesStandardAndRejectsGarbage) {
  EXPECT_EQ(DecodeBase64("aGVsbG8gd29ybGQ="), "hello world");
  EXPECT_EQ(DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_THROW(DecodeBase64("a*b"), ConfigError);
}

// Nested aliases ("billion laughs"): 10^10 nodes once expanded; the file is refused
// with a ConfigError instead of exhausting memory (the kind of input fuzz_kubeconfig
// generates).
TEST_F(KubeConfigTest, NestedAliasesAreRefused) {
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 10; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) laughs += (k ? ", " : "") + prev;
    laughs += "]\n";
  }
  EXPECT_THROW(LoadKubeconfig({Write("laughs", laughs)}), ConfigError);
}

}  // namespace
}  // namespace caretta::k8s
