// The agent's HTTP server with stand-in handlers, for http_hostile_test.py:
//   http_test_server [--address A] [--port P] [--metrics-bytes N] [--mmap-threshold BYTES]
// Prints "port N" once serving, then runs until its stdin closes. /metrics is
// rendered line by line on each request, as the agent's writer does; exits 1
// with the start-up error on stderr.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "common/fd_limit.h"
#include "export/http_server.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  unsigned long port = 0, metrics_bytes = 4096, mmap_threshold = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--address")
      address = argv[i + 1];
    else if (flag == "--port")
      port = std::strtoul(argv[i + 1], nullptr, 10);
    else if (flag == "--metrics-bytes")
      metrics_bytes = std::strtoul(argv[i + 1], nullptr, 10);
    else if (flag == "--mmap-threshold")
      mmap_threshold = std::strtoul(argv[i + 1], nullptr, 10);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (mmap_threshold && mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) != 1) {
    std::cerr << "mallopt failed\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  caretta::common::RaiseFileLimit();
  caretta::exporter::HttpServer server(
      address, static_cast<std::uint16_t>(port), "/metrics",
      caretta::exporter::HttpHandlers{
          .metrics =
              [metrics_bytes] {
                std::string text;
                std::size_t line = 0;
                while (text.size() < metrics_bytes)
                  text += "caretta_test_series{line=\"" + std::to_string(line++) + "\"} 1\n";
                return text;
              },
          .graph = [](double) { return std::make_pair(200, std::string("{\"edges\":[]}")); },
          .ready = [] { return true; }});
  try {
    server.Start();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::cout << "port " << server.port() << " limit " << server.connection_limit() << std::endl;
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  server.Stop();
  for (const auto& [reason, n] : server.ConnectionDrops())
    std::cout << "drop " << reason << " " << n << "\n";
  return 0;
}
