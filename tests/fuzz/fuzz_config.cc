// Flags and environment variables (Caretta's env names): every value from outside
// either configures the agent or is an error with exit code 2 — never an exception
// or a crash. Input: one line per item; a line "$NAME=VALUE" sets an environment
// variable, any other line is one command-line argument.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::size_t start = 0;
  while (start <= input.size() && args.size() + env.size() < 64) {
    std::size_t nl = input.find('\n', start);
    if (nl == std::string_view::npos) nl = input.size();
    std::string_view line = input.substr(start, nl - start);
    if (line.starts_with('$') && line.find('=') != std::string_view::npos) {
      std::size_t eq = line.find('=');
      env[std::string(line.substr(1, eq - 1))] = std::string(line.substr(eq + 1));
    } else if (!line.empty()) {
      args.emplace_back(line);
    }
    start = nl + 1;
  }
  caretta::app::EnvLookup lookup = [&env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  caretta::app::ParseOutcome outcome = caretta::app::ParseConfig(args, lookup);
  if (outcome.exit_code == -1) {
    // An accepted configuration can describe itself (--check-config).
    // A graph source is parsed once: none, or an http(s) URL.
    const std::string& url = outcome.config.graph_prometheus_url;
    if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) abort();
    const std::string described = caretta::app::Describe(outcome.config);
    if (described.empty()) abort();
  } else if (outcome.exit_code != 0 && outcome.exit_code != 2) {
    abort();  // only --help (0) and bad values (2) stop the agent here
  }
  for (const auto& [name, value] : env) (void)caretta::app::ParseBool(value);
  return 0;
}
