// nitric-bench-tcp-floor: what loopback TCP alone costs per event on this
// machine, measured in the same run as the dispatch benchmark.
//
// gRPC 1.51 writes every message of a stream with its own sendmsg (one write
// outstanding per stream, and WriteOptions::set_buffer_hint stalls), and on
// loopback the sender's sendmsg also runs the receiver's TCP input path. So
// every contender of the dispatch benchmark pays at least one such send per
// answer. This tool measures that floor without gRPC: a driver keeps
// --in-flight messages of --bytes bytes outstanding over one TCP connection on
// 127.0.0.1 (one send per message, like the membrane), and a forked answerer
// reads whatever has arrived and answers every message either with its own
// send (--mode per-message: what gRPC does) or with one send per read
// (--mode per-read: what write coalescing would cost). Reported: messages/s
// and the answerer's CPU per message (user + system, from /proc), and the
// driver's.
//
//   nitric-bench-tcp-floor [--mode per-message|per-read] [--in-flight 100]
//       [--bytes 90] [--warmup S] [--duration S] [--json FILE]
//
// 90 bytes is about one gRPC answer on the wire: a 9-byte HTTP/2 DATA frame
// header, the 5-byte gRPC message prefix and the ClientMessage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench/common/flags.h"
#include "bench/common/json_line.h"
#include "bench/common/proc_stats.h"

namespace nitric::bench {
namespace {

struct Options {
  std::string mode = "per-message";
  int in_flight = 100;
  size_t bytes = 90;
  double warmup_s = 0.5;
  double duration_s = 2;
  std::string json_path;
};

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// The answerer: runs in the forked child until the driver closes.
[[noreturn]] void Answer(int fd, const Options& o) {
  const bool per_message = o.mode == "per-message";
  std::vector<char> in(64 * 1024);
  const std::vector<char> one(o.bytes, 'a');
  std::vector<char> batch;
  size_t partial = 0;  // bytes of a message not complete yet
  for (;;) {
    const ssize_t n = recv(fd, in.data(), in.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);
    const size_t total = partial + static_cast<size_t>(n);
    const size_t complete = total / o.bytes;
    partial = total % o.bytes;
    if (per_message) {
      for (size_t i = 0; i < complete; ++i) {
        if (!SendAll(fd, one.data(), one.size())) _exit(0);
      }
    } else if (complete > 0) {
      batch.assign(complete * o.bytes, 'a');
      if (!SendAll(fd, batch.data(), batch.size())) _exit(0);
    }
  }
}

int Run(int argc, char** argv) {
  Options o;
  const FlagSetters setters = {
      {"--mode", [&](const std::string& v) { o.mode = v; }},
      {"--in-flight", [&](const std::string& v) { o.in_flight = std::stoi(v); }},
      {"--bytes", [&](const std::string& v) { o.bytes = std::stoul(v); }},
      {"--warmup", [&](const std::string& v) { o.warmup_s = std::stod(v); }},
      {"--duration", [&](const std::string& v) { o.duration_s = std::stod(v); }},
      {"--json", [&](const std::string& v) { o.json_path = v; }},
  };
  std::vector<std::string> rest;
  if (!ParseFlags(argc, argv, setters, &rest) || !rest.empty() ||
      (o.mode != "per-message" && o.mode != "per-read") || o.in_flight < 1 || o.bytes < 1) {
    std::fprintf(stderr,
                 "usage: nitric-bench-tcp-floor [--mode per-message|per-read] [--in-flight N]\n"
                 "         [--bytes B] [--warmup S] [--duration S] [--json FILE]\n");
    return 2;
  }

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::fprintf(stderr, "nitric-bench-tcp-floor: cannot listen on 127.0.0.1: %s\n",
                 std::strerror(errno));
    return 1;
  }
  const pid_t child = fork();
  if (child < 0) {
    std::perror("nitric-bench-tcp-floor: fork");
    return 1;
  }
  if (child == 0) {
    close(listener);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) _exit(1);
    NoDelay(fd);
    Answer(fd, o);
  }
  const int fd = accept(listener, nullptr, nullptr);
  close(listener);
  if (fd < 0) {
    std::perror("nitric-bench-tcp-floor: accept");
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return 1;
  }
  NoDelay(fd);

  const std::vector<char> message(o.bytes, 'm');
  std::vector<char> in(64 * 1024);
  bool ok = true;
  for (int i = 0; i < o.in_flight && ok; ++i) ok = SendAll(fd, message.data(), message.size());

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto window_start = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.warmup_s));
  const auto window_end = window_start + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.duration_s));
  bool measuring = false;
  uint64_t answered = 0;
  size_t partial = 0;
  CpuTimes child_start;
  double self_start = 0;
  while (ok) {
    const auto now = Clock::now();
    if (!measuring && now >= window_start) {
      measuring = true;
      answered = 0;
      child_start = ProcessCpuTimes(child).value_or(CpuTimes{});
      self_start = SelfCpuSeconds();
    }
    if (now >= window_end) break;
    const ssize_t n = recv(fd, in.data(), in.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    const size_t total = partial + static_cast<size_t>(n);
    const size_t complete = total / o.bytes;
    partial = total % o.bytes;
    answered += complete;
    for (size_t i = 0; i < complete && ok; ++i) ok = SendAll(fd, message.data(), message.size());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
  const CpuTimes child_end = ProcessCpuTimes(child).value_or(CpuTimes{});
  const double self_cpu = SelfCpuSeconds() - self_start;
  shutdown(fd, SHUT_RDWR);
  close(fd);
  waitpid(child, nullptr, 0);
  if (!ok || !measuring || answered == 0) {
    std::fprintf(stderr, "nitric-bench-tcp-floor: the connection broke\n");
    return 1;
  }

  const double per = 1e6 / static_cast<double>(answered);
  const double user = (child_end.user - child_start.user) * per;
  const double system = (child_end.system - child_start.system) * per;
  const double rate = static_cast<double>(answered) / seconds;
  std::printf(
      "tcp floor  %-11s in flight %d  %9.0f msg/s  answerer %5.1f us/msg (kernel %4.1f)  "
      "driver %5.1f us/msg\n",
      o.mode.c_str(), o.in_flight, rate, user + system, system, self_cpu * per);
  JsonLine line;
  line.Add("bench", "floor")
      .Add("contender", o.mode)
      .Add("in_flight", o.in_flight)
      .Add("bytes", static_cast<unsigned long>(o.bytes))
      .Add("messages_per_s", rate)
      .Add("cpu_us_per_message", user + system)
      .Add("sys_us_per_message", system)
      .Add("driver_cpu_us_per_message", self_cpu * per)
      .Add("status", "ok");
  if (!line.AppendTo(o.json_path)) {
    std::fprintf(stderr, "nitric-bench-tcp-floor: cannot write %s\n", o.json_path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace nitric::bench

int main(int argc, char** argv) {
  try {
    return nitric::bench::Run(argc, argv);
  } catch (const std::exception& e) {  // std::stoi on a bad number
    std::fprintf(stderr, "nitric-bench-tcp-floor: %s\n", e.what());
    return 2;
  }
}
