#include "fake_apiserver.h"

#include <curl/curl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace caretta::k8s::testing {
namespace {

namespace fs = std::filesystem;

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

FakeApiServer::FakeApiServer(FakeApiServerOptions options) {
  state_dir = options.state_dir;
  if (state_dir.empty()) {
    char tmpl[] = "/tmp/caretta-fake-api-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    state_dir = tmpl;
    own_dir_ = true;
  }
  const std::string ready = state_dir + "/ready.json";
  fs::remove(ready);
  std::vector<std::string> args = {
      "python3", "-m", "sim.fake_apiserver", "--state-dir", state_dir, "--ready-file", ready};
  if (options.port != 0) {
    args.push_back("--port");
    args.push_back(std::to_string(options.port));
  }
  if (options.reuse_certs) args.push_back("--reuse-certs");
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());

  const std::string log = state_dir + "/server.log";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    if (chdir(CARETTA_SOURCE_DIR) != 0) _exit(126);
    FILE* f = freopen(log.c_str(), "a", stderr);
    (void)f;
    FILE* o = freopen("/dev/null", "w", stdout);
    (void)o;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("python3", argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(ready)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("fake apiserver exited: " + LogTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Stop();
      throw std::runtime_error("fake apiserver not ready: " + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(ready);
  std::stringstream ss;
  ss << in.rdbuf();
  simdjson::dom::parser parser;
  simdjson::padded_string padded(ss.str());
  simdjson::dom::element info = parser.parse(padded).value();
  url = std::string(info["url"].get_string().value());
  control_url = std::string(info["control_url"].get_string().value());
  kubeconfig = std::string(info["kubeconfig"].get_string().value());
  ca_file = std::string(info["ca_file"].get_string().value());
  token = std::string(info["token"].get_string().value());
  token_file = std::string(info["token_file"].get_string().value());
  port = std::stoi(url.substr(url.rfind(':') + 1));
}

FakeApiServer::~FakeApiServer() {
  Stop();
  if (own_dir_ && std::getenv("FAKE_APISERVER_KEEP") == nullptr) {
    std::error_code ec;
    fs::remove_all(state_dir, ec);
  }
}

void FakeApiServer::Stop() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGTERM);
  for (int i = 0; i < 250; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string FakeApiServer::LogTail() const {
  std::ifstream in(state_dir + "/server.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

std::string FakeApiServer::Control(const std::string& method, const std::string& path,
                                   const std::string& body) {
  CURL* curl = curl_easy_init();
  std::string out;
  const std::string full = control_url + "/_control" + path;
  curl_easy_setopt(curl, CURLOPT_URL, full.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK || status >= 400) {
    throw std::runtime_error("control " + method + " " + path + ": " +
                             (code != CURLE_OK ? curl_easy_strerror(code) : out));
  }
  return out;
}

void FakeApiServer::Delete(const std::string& kind, const std::string& ns,
                           const std::string& name) {
  Control("DELETE", "/objects/" + kind + "/" + (ns.empty() ? "" : ns + "/") + name);
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string PodJson(const std::string& name, const std::string& ns, const std::string& ip,
                    const std::string& extra_metadata, const std::string& extra_spec) {
  std::string ips = ip.empty() ? "" : R"(,"podIP":")" + ip + R"(","podIPs":[{"ip":")" + ip + "\"}]";
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name + R"(","namespace":")" +
         ns + "\"" + extra_metadata + R"(},"spec":{"nodeName":"node-1")" + extra_spec +
         R"(,"containers":[{"name":"app","image":"x"}]},"status":{"phase":"Running")" + ips + "}}";
}

std::string NodeJson(const std::string& name, const std::string& ip, const std::string& zone) {
  return R"({"kind":"Node","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","labels":{"topology.kubernetes.io/zone":")" + zone +
         R"("}},"status":{"addresses":[{"type":"InternalIP","address":")" + ip + "\"}]}}";
}

long JsonNumber(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  at += key.size() + 3;
  while (at < json.size() && json[at] == ' ') ++at;
  return std::strtol(json.c_str() + at, nullptr, 10);
}

}  // namespace caretta::k8s::testing
