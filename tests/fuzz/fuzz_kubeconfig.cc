// kubeconfig files (YAML, merged first-wins across KUBECONFIG's files) and the
// base64 of certificate data. Input: up to three files separated by NUL bytes
// (which YAML itself never contains). A broken file must end in ConfigError; any
// other exception or a crash is a finding.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/kube_config.h"

namespace {

// One private directory for the process's files, removed at exit.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/caretta-fuzz-kubeconfig-XXXXXX";
    if (mkdtemp(pattern) == nullptr) abort();
    path_ = pattern;
  }
  ~TempDir() {
    for (const auto& file : files_) unlink(file.c_str());
    rmdir(path_.c_str());
  }
  std::string Write(std::size_t i, std::string_view text) {
    std::string file = path_ + "/config" + std::to_string(i);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) abort();
    if (i >= files_.size()) files_.push_back(file);
    return file;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static TempDir dir;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> paths;
  std::size_t start = 0;
  while (paths.size() < 3) {
    std::size_t nul = input.find('\0', start);
    std::string_view part = input.substr(start, nul == std::string_view::npos ? nul : nul - start);
    paths.push_back(dir.Write(paths.size(), part));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  try {
    caretta::k8s::ClusterConfig config = caretta::k8s::LoadKubeconfig(paths);
    // A config that loads names an http(s) server (anything else must be a ConfigError).
    if (config.server.rfind("http", 0) != 0) abort();
  } catch (const caretta::k8s::ConfigError&) {
  }
  try {
    (void)caretta::k8s::DecodeBase64(input);
  } catch (const caretta::k8s::ConfigError&) {
  }
  return 0;
}
