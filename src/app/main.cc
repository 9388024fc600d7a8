// caretta: parse configuration, run the agent until SIGINT/SIGTERM.
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "app/agent.h"
#include "app/config.h"
#include "common/fd_limit.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  // First of all: a SIGTERM during start-up then waits for sigwait() below and ends
  // the agent cleanly. Signals are taken synchronously by this thread; every other
  // thread inherits the mask and blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    std::perror("pthread_sigmask");
    return 1;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  caretta::app::ParseOutcome parsed = caretta::app::ParseConfig(args, caretta::app::ProcessEnv());
  if (parsed.exit_code >= 0) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << "\n";
    return parsed.exit_code;
  }
  const caretta::app::Config& config = parsed.config;
  if (config.check_config) {
    std::cout << caretta::app::Describe(config);
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  // A fixed mmap threshold, before any thread starts: large buffers (API pages,
  // graph bodies) then go back to the system when freed, instead of raising
  // glibc's moving threshold and staying in each thread's arena (measured: the
  // Kubernetes all-hostile case +70-141 MiB -> +53-72 MiB, and RSS that grew
  // with each scrape of a large /metrics).
  if (mallopt(M_MMAP_THRESHOLD, 256 * 1024) != 1) std::perror("mallopt(M_MMAP_THRESHOLD)");
  // Connections to the HTTP port must never starve the poll of descriptors: the
  // soft limit goes up to the hard one, and the server keeps a reserve free.
  try {
    caretta::common::FileLimit limit = caretta::common::RaiseFileLimit();
    spdlog::debug("caretta: file descriptor limit {}", limit.soft);
  } catch (const std::exception& e) {
    spdlog::warn("caretta: cannot raise the file descriptor limit: {}", e.what());
  }

  std::unique_ptr<caretta::app::Agent> agent;
  std::unique_ptr<caretta::app::UiServer> ui;
  try {
    if (config.ui_only) {
      ui = std::make_unique<caretta::app::UiServer>(config);
    } else {
      spdlog::info("caretta: starting (poll every {} s, metrics on :{}{})",
                   config.poll_interval_seconds, config.prometheus_port,
                   config.prometheus_endpoint);
      agent = std::make_unique<caretta::app::Agent>(config);
    }
  } catch (const std::exception& e) {
    spdlog::critical("caretta: cannot start: {}", e.what());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("caretta: {} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (agent) agent->Stop();
  if (ui) ui->Stop();
  return 0;
}
