// Where the Kubernetes API is and how to authenticate: in-cluster service account or
// a kubeconfig file (current context). Holds paths and bytes only; no connections.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace caretta::k8s {

struct ClusterConfig {
  std::string server;  // "https://host:port", no trailing slash
  std::string ca_file;
  std::string ca_pem;  // certificate-authority-data, decoded
  bool insecure_skip_tls_verify = false;
  std::string token;       // static bearer token (kubeconfig `token`)
  std::string token_file;  // re-read when it changes: bound tokens rotate
  std::string client_cert_file, client_key_file;
  std::string client_cert_pem, client_key_pem;  // client-certificate/key-data, decoded
  std::string source;                           // "in-cluster" or the kubeconfig path
};

// Thrown when a configuration exists but cannot be used; the message names the
// file and the problem.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

struct ConfigSearch {
  std::string kubeconfig;  // explicit path (--kubeconfig); wins over everything
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  EnvLookup env;  // empty: the process environment
};

// Order: explicit kubeconfig; in-cluster (KUBERNETES_SERVICE_HOST set); KUBECONFIG
// (colon-separated, merged first-wins like kubectl); $HOME/.kube/config.
// nullopt when none of them exists; ConfigError when the chosen one is broken.
std::optional<ClusterConfig> FindClusterConfig(const ConfigSearch& search);

// Loads one or more kubeconfig files (merged first-wins) and picks the current context.
ClusterConfig LoadKubeconfig(const std::vector<std::string>& paths);

ClusterConfig InClusterConfig(const std::string& host, const std::string& port,
                              const std::string& service_account_dir);

std::string DecodeBase64(std::string_view text);  // throws ConfigError on bad input

}  // namespace caretta::k8s
