// Runs sim/fake_apiserver (Python) as a child process for a test and talks to its
// control API. The child is killed on destruction, also when a test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace caretta::k8s::testing {

struct FakeApiServerOptions {
  std::vector<std::string> extra_args;
  std::string state_dir;  // "" = a fresh temp dir, removed at the end
  int port = 0;           // 0 = any free port
  bool reuse_certs = false;
};

inline FakeApiServerOptions WithArgs(std::vector<std::string> args) {
  FakeApiServerOptions o;
  o.extra_args = std::move(args);
  return o;
}

class FakeApiServer {
 public:
  explicit FakeApiServer(FakeApiServerOptions options = {});  // waits until READY
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  void Stop();  // SIGTERM, then SIGKILL after 5 s

  // Control API; throws on a 4xx/5xx answer. Returns the JSON answer text.
  std::string Control(const std::string& method, const std::string& path,
                      const std::string& body = "");
  std::string Add(const std::string& objects_json) {
    return Control("POST", "/objects", objects_json);
  }
  void Delete(const std::string& kind, const std::string& ns, const std::string& name);
  void Fault(const std::string& fault_json) { Control("POST", "/faults", fault_json); }
  std::string Stats() { return Control("GET", "/stats"); }
  std::string LogTail() const;

  std::string url, control_url, kubeconfig, ca_file, token, token_file, state_dir;
  int port = 0;

 private:
  pid_t pid_ = -1;
  bool own_dir_ = false;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Objects in the API's JSON shape.
std::string PodJson(const std::string& name, const std::string& ns, const std::string& ip,
                    const std::string& extra_metadata = "", const std::string& extra_spec = "");
std::string NodeJson(const std::string& name, const std::string& ip, const std::string& zone);

// The number after "key": in a flat JSON text (enough for the control API's stats).
long JsonNumber(const std::string& json, const std::string& key);

}  // namespace caretta::k8s::testing
