// nitric-dev-membrane: runs the dev membrane until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>

#include <absl/synchronization/mutex.h>
#include <spdlog/spdlog.h>

#include "devserver/command_line.h"
#include "devserver/dev_membrane.h"

namespace {

// SIGINT and SIGTERM are blocked in every thread (the mask is set before any
// thread exists, and threads inherit it) and taken with sigwait() by the main
// thread: no work ever happens in a signal handler.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

int WaitForSignal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil leaves absl::Mutex deadlock detection on (no NDEBUG): a
  // global lock-graph update on every lock gRPC takes. Not for a server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using nitric::devserver::CommandLine;
  CommandLine cl;
  std::string error;
  if (!nitric::devserver::ParseCommandLine(argc, argv, &cl, &error)) {
    std::fprintf(stderr, "nitric-dev-membrane: %s\nTry 'nitric-dev-membrane --help'.\n",
                 error.c_str());
    return 2;
  }
  if (cl.help) {
    std::fputs(nitric::devserver::Usage().c_str(), stdout);
    return 0;
  }

  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  // A peer that vanishes must cost an EPIPE, never the process.
  signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  std::filesystem::path data = std::filesystem::absolute(cl.options.data_dir, ec);
  if (!ec) cl.options.data_dir = data.lexically_normal();

  nitric::devserver::DevMembrane membrane(cl.options);
  grpc::Status status = membrane.Start();
  if (!status.ok()) {
    spdlog::error("cannot start the dev membrane: {}", status.error_message());
    return 1;
  }
  spdlog::info("dev membrane ready: SERVICE_ADDRESS={} data={}", membrane.grpc_address(),
               cl.options.data_dir.string());

  int sig = WaitForSignal(stop);
  spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  // A second signal while shutting down means "now": leave without cleanup.
  std::thread([stop] {
    WaitForSignal(stop);
    std::fputs("nitric-dev-membrane: second signal, exiting immediately\n", stderr);
    std::_Exit(1);
  }).detach();
  membrane.Shutdown();
  return 0;
}
