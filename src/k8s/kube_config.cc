#include "k8s/kube_config.h"

#include <sys/stat.h>
#include <yaml.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>

#include "k8s/limits.h"

namespace caretta::k8s {
namespace {

// The subset of a YAML document a kubeconfig needs: maps, lists, scalars.
struct YamlNode {
  // A map's entries in file order. Not std::pair: clang checks pair<string, YamlNode>
  // for implicit default construction while YamlNode is still incomplete.
  struct Entry;
  enum class Type { kNull, kScalar, kMap, kList } type = Type::kNull;
  std::string scalar;
  std::vector<Entry> map;
  std::vector<YamlNode> list;

  const YamlNode* Get(std::string_view key) const;
  std::string String(std::string_view key) const;
};

struct YamlNode::Entry {
  std::string key;
  YamlNode value;
};

const YamlNode* YamlNode::Get(std::string_view key) const {
  for (const Entry& entry : map)
    if (entry.key == key) return &entry.value;
  return nullptr;
}

std::string YamlNode::String(std::string_view key) const {
  const YamlNode* n = Get(key);
  return n != nullptr && n->type == Type::kScalar ? n->scalar : std::string();
}

// Reads at most kMaxKubeconfigBytes; a larger file is refused, not truncated.
std::string ReadBounded(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("kubeconfig " + path + ": cannot be read");
  std::string text(kMaxKubeconfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxKubeconfigBytes) {
    throw ConfigError("kubeconfig " + path + ": larger than " +
                      std::to_string(kMaxKubeconfigBytes) +
                      " bytes, which no kubeconfig needs; refusing it");
  }
  return text;
}

// Builds the tree from libyaml's events, not its document loader, so that what
// could make it large is refused before it is built: aliases (`*name`; a few
// hundred bytes of nested aliases expand to billions of nodes) and nesting deeper
// than kMaxKubeconfigDepth. Only the first document is read.
YamlNode ParseYaml(const std::string& text, const std::string& path) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) throw ConfigError("libyaml: out of memory");
  std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> parser_guard(&parser,
                                                                        yaml_parser_delete);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  struct Frame {
    YamlNode node;
    bool has_key = false;
    std::string key;
  };
  std::vector<Frame> stack;
  YamlNode root;
  auto attach = [&](YamlNode node) {
    if (stack.empty()) {
      root = std::move(node);
      return;
    }
    Frame& f = stack.back();
    if (f.node.type == YamlNode::Type::kList) {
      f.node.list.push_back(std::move(node));
    } else if (!f.has_key) {
      f.key = std::move(node.scalar);  // a non-scalar key becomes "" (never looked up)
      f.has_key = true;
    } else {
      f.node.map.push_back(YamlNode::Entry{std::move(f.key), std::move(node)});
      f.has_key = false;
    }
  };
  auto where = [&](const yaml_mark_t& mark) {
    return "kubeconfig " + path + " line " + std::to_string(mark.line + 1) + ": ";
  };
  for (bool done = false; !done;) {
    yaml_event_t event;
    if (yaml_parser_parse(&parser, &event) == 0) {
      throw ConfigError("kubeconfig " + path + ": invalid YAML at line " +
                        std::to_string(parser.problem_mark.line + 1) + ": " +
                        (parser.problem != nullptr ? parser.problem : "parse error"));
    }
    std::unique_ptr<yaml_event_t, void (*)(yaml_event_t*)> event_guard(&event, yaml_event_delete);
    switch (event.type) {
      case YAML_ALIAS_EVENT:
        throw ConfigError(where(event.start_mark) +
                          "YAML aliases (*name) are not accepted in a kubeconfig");
      case YAML_SCALAR_EVENT: {
        YamlNode node;
        node.type = YamlNode::Type::kScalar;
        node.scalar.assign(reinterpret_cast<const char*>(event.data.scalar.value),
                           event.data.scalar.length);
        // A plain `null`/`~` is no value (kubeconfigs written by tools contain them).
        if (event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (node.scalar == "null" || node.scalar == "~")) {
          node = YamlNode{};
        }
        attach(std::move(node));
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT:
        if (stack.size() >= static_cast<std::size_t>(kMaxKubeconfigDepth)) {
          throw ConfigError(where(event.start_mark) + "nested deeper than " +
                            std::to_string(kMaxKubeconfigDepth) + " levels");
        }
        stack.emplace_back();
        stack.back().node.type =
            event.type == YAML_SEQUENCE_START_EVENT ? YamlNode::Type::kList : YamlNode::Type::kMap;
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        YamlNode node = std::move(stack.back().node);
        stack.pop_back();
        attach(std::move(node));
        break;
      }
      case YAML_DOCUMENT_END_EVENT:
      case YAML_STREAM_END_EVENT:
        done = true;
        break;
      default:
        break;
    }
  }
  return root;
}

YamlNode ParseYamlFile(const std::string& path) { return ParseYaml(ReadBounded(path), path); }

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

// kubeconfig paths are relative to the file that names them.
std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return base_dir + "/" + path;
}

// One named entry (cluster/user/context) and the directory of the file it came from.
struct NamedEntry {
  const YamlNode* body = nullptr;
  std::string dir;
  std::string file;
};

std::string DefaultEnv(const std::string& name, const EnvLookup& env) {
  if (env) return env(name).value_or("");
  const char* v = std::getenv(name.c_str());
  return v != nullptr ? v : "";
}

std::vector<std::string> SplitPathList(const std::string& list) {
  std::vector<std::string> out;
  std::string::size_type start = 0;
  while (start <= list.size()) {
    auto colon = list.find(':', start);
    if (colon == std::string::npos) colon = list.size();
    if (colon > start) out.push_back(list.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}

}  // namespace

std::string DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    int v = value(c);
    if (v < 0) throw ConfigError("invalid base64 data");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

ClusterConfig LoadKubeconfig(const std::vector<std::string>& paths) {
  std::vector<YamlNode> docs;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    if (!FileExists(p)) continue;
    docs.push_back(ParseYamlFile(p));
    files.push_back(p);
  }
  if (docs.empty()) throw ConfigError("kubeconfig: no readable file among the given paths");

  std::string current_context;
  std::map<std::string, NamedEntry> clusters, users, contexts;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const YamlNode& d = docs[i];
    if (d.type != YamlNode::Type::kMap) throw ConfigError("kubeconfig " + files[i] + ": not a map");
    if (current_context.empty()) current_context = d.String("current-context");
    auto collect = [&](const char* list_key, const char* body_key,
                       std::map<std::string, NamedEntry>& into) {
      const YamlNode* list = d.Get(list_key);
      if (list == nullptr) return;
      for (const YamlNode& item : list->list) {
        const YamlNode* body = item.Get(body_key);
        std::string name = item.String("name");
        if (body != nullptr && !name.empty() && !into.contains(name))
          into[name] = NamedEntry{body, DirName(files[i]), files[i]};
      }
    };
    collect("clusters", "cluster", clusters);
    collect("users", "user", users);
    collect("contexts", "context", contexts);
  }
  const std::string where = "kubeconfig " + files.front();
  if (current_context.empty()) throw ConfigError(where + ": no current-context");
  auto ctx = contexts.find(current_context);
  if (ctx == contexts.end())
    throw ConfigError(where + ": current-context \"" + current_context + "\" is not defined");
  const std::string cluster_name = ctx->second.body->String("cluster");
  const std::string user_name = ctx->second.body->String("user");
  auto cluster = clusters.find(cluster_name);
  if (cluster == clusters.end())
    throw ConfigError(where + ": context \"" + current_context + "\" names unknown cluster \"" +
                      cluster_name + "\"");

  ClusterConfig c;
  c.source = files.front();
  const YamlNode& cb = *cluster->second.body;
  c.server = cb.String("server");
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  if (c.server.empty())
    throw ConfigError(where + ": cluster \"" + cluster_name + "\" has no server");
  if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0)
    throw ConfigError(where + ": server \"" + c.server + "\" is not an http(s) URL");
  c.insecure_skip_tls_verify = cb.String("insecure-skip-tls-verify") == "true";
  try {
    c.ca_pem = DecodeBase64(cb.String("certificate-authority-data"));
  } catch (const ConfigError&) {
    throw ConfigError(where + ": certificate-authority-data is not base64");
  }
  c.ca_file = Resolve(cluster->second.dir, cb.String("certificate-authority"));
  if (!c.ca_file.empty() && !FileExists(c.ca_file))
    throw ConfigError(where + ": certificate-authority " + c.ca_file + " does not exist");

  if (!user_name.empty()) {
    auto user = users.find(user_name);
    if (user == users.end())
      throw ConfigError(where + ": context \"" + current_context + "\" names unknown user \"" +
                        user_name + "\"");
    const YamlNode& ub = *user->second.body;
    const std::string& dir = user->second.dir;
    c.token = ub.String("token");
    c.token_file = Resolve(dir, ub.String("tokenFile"));
    c.client_cert_file = Resolve(dir, ub.String("client-certificate"));
    c.client_key_file = Resolve(dir, ub.String("client-key"));
    try {
      c.client_cert_pem = DecodeBase64(ub.String("client-certificate-data"));
      c.client_key_pem = DecodeBase64(ub.String("client-key-data"));
    } catch (const ConfigError&) {
      throw ConfigError(where + ": user \"" + user_name + "\" has invalid base64 key data");
    }
    if (ub.Get("exec") != nullptr && c.token.empty() && c.token_file.empty() &&
        c.client_cert_file.empty() && c.client_cert_pem.empty()) {
      throw ConfigError(where + ": user \"" + user_name +
                        "\" uses an exec credential plugin, which caretta does not run; "
                        "give it a token, tokenFile or client certificate");
    }
    if (!c.token_file.empty() && !FileExists(c.token_file))
      throw ConfigError(where + ": tokenFile " + c.token_file + " does not exist");
    for (const std::string* f : {&c.client_cert_file, &c.client_key_file})
      if (!f->empty() && !FileExists(*f)) throw ConfigError(where + ": " + *f + " does not exist");
  }
  return c;
}

ClusterConfig InClusterConfig(const std::string& host, const std::string& port,
                              const std::string& service_account_dir) {
  ClusterConfig c;
  c.source = "in-cluster";
  const bool v6 = host.find(':') != std::string::npos;
  c.server = "https://" + (v6 ? "[" + host + "]" : host) + ":" + (port.empty() ? "443" : port);
  c.token_file = service_account_dir + "/token";
  c.ca_file = service_account_dir + "/ca.crt";
  if (!FileExists(c.token_file))
    throw ConfigError("in-cluster config: KUBERNETES_SERVICE_HOST is set but " + c.token_file +
                      " does not exist (is the service account token mounted?)");
  if (!FileExists(c.ca_file))
    throw ConfigError("in-cluster config: " + c.ca_file + " does not exist");
  return c;
}

std::optional<ClusterConfig> FindClusterConfig(const ConfigSearch& search) {
  if (!search.kubeconfig.empty()) {
    if (!FileExists(search.kubeconfig))
      throw ConfigError("kubeconfig " + search.kubeconfig + " does not exist");
    return LoadKubeconfig({search.kubeconfig});
  }
  const std::string host = DefaultEnv("KUBERNETES_SERVICE_HOST", search.env);
  if (!host.empty()) {
    return InClusterConfig(host, DefaultEnv("KUBERNETES_SERVICE_PORT", search.env),
                           search.service_account_dir);
  }
  const std::string env_list = DefaultEnv("KUBECONFIG", search.env);
  if (!env_list.empty()) {
    std::vector<std::string> paths = SplitPathList(env_list);
    bool any = false;
    for (const std::string& p : paths) any = any || FileExists(p);
    if (any) return LoadKubeconfig(paths);
  }
  const std::string home = DefaultEnv("HOME", search.env);
  if (!home.empty() && FileExists(home + "/.kube/config"))
    return LoadKubeconfig({home + "/.kube/config"});
  return std::nullopt;
}

}  // namespace caretta::k8s
