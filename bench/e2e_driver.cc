// nitric-bench-e2e: end-to-end benchmarks with real websocket clients.
//
// Starts the dev membrane (nitric-dev-membrane) on free loopback ports with a
// fresh data folder, starts the app under test with SERVICE_ADDRESS pointing at
// it, waits until a probe client's message goes through, connects N Beast
// websocket clients to the socket's gateway listener and drives them:
//
//   --mode echo       every client sends a 64-byte text frame and waits for it
//                     to come back before sending the next (the echo app sends
//                     each message back to its sender): messages/s, latency.
//   --mode broadcast  the seed's broadcast chat: the first S clients send, each
//                     waiting for its own copy before the next; every client
//                     counts what it receives: messages/s and deliveries/s.
//
// Reports the CPU time and peak RSS of the app and of the membrane, and the
// driver's own CPU.
//
//   nitric-bench-e2e --mode echo --name host --clients 50
//       --membrane build/bin/nitric-dev-membrane -- build/bin/nitric-host --plugins DIR
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "bench/common/child_process.h"
#include "bench/common/flags.h"
#include "bench/common/json_line.h"
#include "bench/common/latency.h"
#include "bench/common/proc_stats.h"
#include "bench/e2e/ws_client.h"

namespace nitric::bench {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::milliseconds;

enum class Mode { kEcho, kBroadcast };

struct Options {
  Mode mode = Mode::kEcho;
  std::string name = "contender";
  std::string socket;  // default: "echo" or "public" by mode
  int clients = 50;
  int senders = 0;  // broadcast; default min(clients, 10)
  std::size_t body_bytes = 64;
  double warmup_s = 1.0;
  double duration_s = 5.0;
  double startup_timeout_s = 30.0;
  double drain_s = 3.0;  // wait this long for messages in flight at the end
  std::string membrane;
  std::string json_path;
  std::string log_prefix;  // <prefix>membrane.log, <prefix>app.log
  std::vector<std::string> command;
};

void Usage() {
  std::fprintf(
      stderr,
      "usage: nitric-bench-e2e --mode echo|broadcast --membrane PATH [--name N]\n"
      "         [--socket S] [--clients N] [--senders S] [--body-bytes B]\n"
      "         [--warmup S] [--duration S] [--startup-timeout S] [--drain S] [--json FILE]\n"
      "         [--log-prefix PATH] -- APP_COMMAND [ARGS...]\n");
}

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  bool mode_ok = true;
  const FlagSetters setters = {
      {"--mode",
       [&](const std::string& v) {
         mode_ok = v == "echo" || v == "broadcast";
         o.mode = v == "broadcast" ? Mode::kBroadcast : Mode::kEcho;
       }},
      {"--name", [&](const std::string& v) { o.name = v; }},
      {"--socket", [&](const std::string& v) { o.socket = v; }},
      {"--clients", [&](const std::string& v) { o.clients = std::stoi(v); }},
      {"--senders", [&](const std::string& v) { o.senders = std::stoi(v); }},
      {"--body-bytes", [&](const std::string& v) { o.body_bytes = std::stoul(v); }},
      {"--warmup", [&](const std::string& v) { o.warmup_s = std::stod(v); }},
      {"--duration", [&](const std::string& v) { o.duration_s = std::stod(v); }},
      {"--startup-timeout", [&](const std::string& v) { o.startup_timeout_s = std::stod(v); }},
      {"--drain", [&](const std::string& v) { o.drain_s = std::stod(v); }},
      {"--membrane", [&](const std::string& v) { o.membrane = v; }},
      {"--json", [&](const std::string& v) { o.json_path = v; }},
      {"--log-prefix", [&](const std::string& v) { o.log_prefix = v; }},
  };
  if (!ParseFlags(argc, argv, setters, &o.command) || !mode_ok) return std::nullopt;
  if (o.socket.empty()) o.socket = o.mode == Mode::kEcho ? "echo" : "public";
  if (o.senders <= 0) o.senders = std::min(o.clients, 10);
  o.senders = std::min(o.senders, o.clients);
  if (o.command.empty() || o.membrane.empty() || o.clients < 1 || o.body_bytes < 24) {
    return std::nullopt;
  }
  return o;
}

// A free loopback port (bound, read, released: another process could take it
// in between, which start-up then reports).
uint16_t FreePort() {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

bool PortAccepts(uint16_t port) {
  net::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

// The gateway port of `socket` from the membrane's log ("... public ...
// ws://127.0.0.1:4001"), if it printed one.
std::optional<uint16_t> GatewayPortFromLog(const std::string& log, const std::string& socket) {
  std::ifstream in(log);
  std::string line;
  const std::regex url(R"(ws://127\.0\.0\.1:([0-9]+))");
  std::optional<uint16_t> any;
  while (std::getline(in, line)) {
    std::smatch match;
    if (!std::regex_search(line, match, url)) continue;
    const auto port = static_cast<uint16_t>(std::stoi(match[1]));
    if (line.find(socket) != std::string::npos) return port;
    any = port;
  }
  return any;
}

// A frame of exactly `bytes` bytes that names its sender and sequence number.
std::string Frame(int client, uint64_t sequence, std::size_t bytes) {
  std::string text = "m " + std::to_string(client) + " " + std::to_string(sequence) + " ";
  text.resize(std::max(bytes, text.size()), 'x');
  return text;
}

// The load and its counters. Everything but the atomics lives on the io thread.
class Load {
 public:
  explicit Load(const Options& o) : o_(o) {}

  std::vector<std::shared_ptr<WsClient>>& clients() { return clients_; }

  // Wires a connected client into the pattern of the mode.
  void Attach(const std::shared_ptr<WsClient>& client) {
    client->set_on_message([this](WsClient& c, std::string_view data) { OnMessage(c, data); });
    client->set_on_closed([this](WsClient&, const std::string&) { unexpected_closes_++; });
    clients_.push_back(client);
  }

  // Every sender sends its first frame.
  void Start() {
    for (auto& c : clients_) {
      if (IsSender(*c)) SendNext(*c);
    }
  }

  void BeginWindow() {
    latency_.Clear();
    window_messages_ = messages_.load();
    window_deliveries_ = deliveries_.load();
    measuring_ = true;
  }

  struct Window {
    uint64_t messages = 0;
    uint64_t deliveries = 0;
    LatencySummary latency;
  };
  Window EndWindow() {
    measuring_ = false;
    Window w;
    w.messages = messages_.load() - window_messages_;
    w.deliveries = deliveries_.load() - window_deliveries_;
    w.latency = latency_.Summarize();
    return w;
  }

  void Stop() { stopping_ = true; }
  // Senders still waiting for their message (lost unless it comes late).
  int Awaiting() const {
    int n = 0;
    for (const auto& c : clients_) n += c->awaiting ? 1 : 0;
    return n;
  }

  uint64_t messages() const { return messages_.load(); }
  uint64_t mismatches() const { return mismatches_.load(); }
  uint64_t unexpected_closes() const { return unexpected_closes_.load(); }

 private:
  bool IsSender(const WsClient& c) const {
    return o_.mode == Mode::kEcho || c.index() < o_.senders;
  }

  void SendNext(WsClient& c) {
    if (stopping_ || !c.open()) return;
    c.expected = Frame(c.index(), ++c.sequence, o_.body_bytes);
    c.awaiting = true;
    c.sent_at = Clock::now();
    c.Send(c.expected);
  }

  void OnMessage(WsClient& c, std::string_view data) {
    if (o_.mode == Mode::kBroadcast) deliveries_.fetch_add(1, std::memory_order_relaxed);
    if (!c.awaiting || data != c.expected) {
      // Echo: every frame must be the one awaited. Broadcast: others' frames.
      if (o_.mode == Mode::kEcho) mismatches_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    c.awaiting = false;
    messages_.fetch_add(1, std::memory_order_relaxed);
    if (measuring_) {
      latency_.Add(
          static_cast<uint64_t>(std::chrono::nanoseconds(Clock::now() - c.sent_at).count()));
    }
    SendNext(c);
  }

  const Options& o_;
  std::vector<std::shared_ptr<WsClient>> clients_;
  LatencyRecorder latency_;
  bool measuring_ = false;
  bool stopping_ = false;
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> deliveries_{0};
  std::atomic<uint64_t> mismatches_{0};
  std::atomic<uint64_t> unexpected_closes_{0};
  uint64_t window_messages_ = 0;
  uint64_t window_deliveries_ = 0;
};

// Runs `fn` on the io thread and waits for its result.
template <typename Fn>
auto OnIo(net::io_context& io, Fn fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  net::post(io, [&task] { task(); });
  return result.get();
}

// Connects a client; empty on success, else the error. Waits up to 15 s.
std::string ConnectClient(net::io_context& io, const std::shared_ptr<WsClient>& client,
                          const tcp::endpoint& endpoint) {
  auto done = std::make_shared<std::promise<std::string>>();
  auto result = done->get_future();
  net::post(io, [client, endpoint, done] {
    client->Connect(endpoint,
                    [done](WsClient&, const std::string& error) { done->set_value(error); });
  });
  if (result.wait_for(std::chrono::seconds(15)) != std::future_status::ready) return "timeout";
  return result.get();
}

struct Processes {
  std::unique_ptr<ChildProcess> membrane;
  std::unique_ptr<ChildProcess> app;
  bool Alive() { return membrane->Running() && app->Running(); }
};

bool SleepWhileAlive(Processes& p, double seconds) {
  const auto end = Clock::now() + duration<double>(seconds);
  while (Clock::now() < end) {
    if (!p.Alive()) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return p.Alive();
}

class E2eRun {
 public:
  explicit E2eRun(const Options& o) : o_(o), load_(o) {
    json_.Add("bench", o.mode == Mode::kEcho ? "e2e" : "broadcast")
        .Add("contender", o.name)
        .Add("clients", o.clients)
        .Add("senders", o.mode == Mode::kEcho ? o.clients : o.senders)
        .Add("body_bytes", static_cast<long long>(o.body_bytes));
  }

  ~E2eRun() {
    if (io_thread_.joinable()) {
      work_.reset();
      io_.stop();
      io_thread_.join();
    }
    std::error_code ec;
    if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_, ec);
  }

  int Run() {
    std::string error;
    if (!StartProcesses(&error)) return Fail(error);
    io_thread_ = std::thread([this] { io_.run(); });
    if (!WaitReady(&error)) return Fail(error);
    if (!ConnectAll(&error)) return Fail(error);
    OnIo(io_, [this] { load_.Start(); });
    if (!SleepWhileAlive(procs_, o_.warmup_s)) return Fail("a process died during warm-up");
    // A slow contender (a broadcast to 500 clients from the Node SDK) may not
    // have finished one message yet: give it up to the start-up timeout.
    const auto first_deadline = Clock::now() + duration<double>(o_.startup_timeout_s);
    while (load_.messages() == 0 && Clock::now() < first_deadline) {
      if (!SleepWhileAlive(procs_, 0.1)) return Fail("a process died during warm-up");
    }
    if (load_.messages() == 0) return Fail("no message came back during warm-up");
    return Measure();
  }

 private:
  bool StartProcesses(std::string* error) {
    char dir_template[] = "/tmp/nitric-bench-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) {
      *error = "mkdtemp failed";
      return false;
    }
    data_dir_ = dir_template;
    const uint16_t grpc_port = FreePort();
    gateway_port_ = FreePort();
    ChildOptions membrane;
    // The socket's gateway is pinned to a port chosen here; others get any.
    membrane.argv = {o_.membrane,
                     "--listen",
                     "127.0.0.1:" + std::to_string(grpc_port),
                     "--gateway-port",
                     "0",
                     "--socket-port",
                     o_.socket + "=" + std::to_string(gateway_port_),
                     "--data",
                     data_dir_};
    membrane.log_path = membrane_log_ = o_.log_prefix.empty() ? "" : o_.log_prefix + "membrane.log";
    procs_.membrane = ChildProcess::Spawn(membrane, error);
    if (!procs_.membrane) return false;
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (!PortAccepts(grpc_port)) {
      if (!procs_.membrane->Running() || Clock::now() > deadline) {
        *error = "the dev membrane did not listen on 127.0.0.1:" + std::to_string(grpc_port) +
                 " (" + procs_.membrane->ExitDescription() + ")";
        return false;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    ChildOptions app;
    app.argv = o_.command;
    app.env_set["SERVICE_ADDRESS"] = "127.0.0.1:" + std::to_string(grpc_port);
    app.env_unset = {"NITRIC_ENVIRONMENT"};
    app.log_path = o_.log_prefix.empty() ? "" : o_.log_prefix + "app.log";
    app_started_ = Clock::now();
    procs_.app = ChildProcess::Spawn(app, error);
    return procs_.app != nullptr;
  }

  tcp::endpoint Gateway() const {
    uint16_t port = gateway_port_;
    if (!membrane_log_.empty()) port = GatewayPortFromLog(membrane_log_, o_.socket).value_or(port);
    return {net::ip::make_address("127.0.0.1"), port};
  }

  // Ready = a probe client connects and its message comes back (all three
  // streams registered, the handler chain works). The probe stays connected as
  // client 0: in the broadcast app a disconnect still in flight would make the
  // first broadcasts fail on a vanished connection.
  bool WaitReady(std::string* error) {
    const auto deadline = app_started_ + duration<double>(o_.startup_timeout_s);
    std::string last = "no attempt";
    while (Clock::now() < deadline) {
      if (!procs_.Alive()) {
        *error =
            "a process exited during start-up (membrane: " + procs_.membrane->ExitDescription() +
            ", app: " + procs_.app->ExitDescription() + ")";
        return false;
      }
      auto probe = std::make_shared<WsClient>(io_, 0);
      last = ConnectClient(io_, probe, Gateway());
      if (last.empty() && Probe(probe)) {
        ready_ms_ = duration<double, std::milli>(Clock::now() - app_started_).count();
        OnIo(io_, [this, probe] { load_.Attach(probe); });
        return true;
      }
      if (last.empty()) last = "the probe message did not come back";
      OnIo(io_, [probe] { probe->Close(); });
      std::this_thread::sleep_for(milliseconds(100));
    }
    *error = "not ready within " + std::to_string(o_.startup_timeout_s) + " s: " + last;
    return false;
  }

  bool Probe(const std::shared_ptr<WsClient>& probe) {
    auto echoed = std::make_shared<std::promise<void>>();
    auto result = echoed->get_future();
    const std::string text = Frame(0, 0, o_.body_bytes);
    OnIo(io_, [&] {
      auto fired = std::make_shared<bool>(false);
      probe->set_on_message([echoed, text, fired](WsClient&, std::string_view data) {
        if (data == text && !*fired) {
          *fired = true;
          echoed->set_value();
        }
      });
      probe->Send(text);
    });
    return result.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  }

  bool ConnectAll(std::string* error) {
    const auto started = Clock::now();
    // Upgrades in batches of 50 at once, as a crowd of browsers would.
    constexpr int kBatch = 50;
    for (int first = 1; first < o_.clients; first += kBatch) {
      const int last = std::min(o_.clients, first + kBatch);
      std::vector<std::future<std::string>> results;
      for (int i = first; i < last; ++i) {
        results.push_back(std::async(std::launch::async, [this, i] {
          auto client = std::make_shared<WsClient>(io_, i);
          std::string e = ConnectClient(io_, client, Gateway());
          if (e.empty()) OnIo(io_, [this, client] { load_.Attach(client); });
          return e;
        }));
      }
      for (auto& r : results) {
        const std::string e = r.get();
        if (!e.empty()) {
          *error = "client connect failed: " + e;
          return false;
        }
      }
    }
    // Attach order differs from index order; the load only uses index().
    connect_ms_ = duration<double, std::milli>(Clock::now() - started).count();
    return true;
  }

  int Measure() {
    const pid_t app = procs_.app->pid();
    const pid_t membrane = procs_.membrane->pid();
    const double app0 = ProcessCpuSeconds(app).value_or(0);
    const double mem0 = ProcessCpuSeconds(membrane).value_or(0);
    const double self0 = SelfCpuSeconds();
    const auto t0 = Clock::now();
    OnIo(io_, [this] { load_.BeginWindow(); });
    const bool survived = SleepWhileAlive(procs_, o_.duration_s);
    const auto w = OnIo(io_, [this] { return load_.EndWindow(); });
    const double seconds = duration<double>(Clock::now() - t0).count();
    const double app_cpu = ProcessCpuSeconds(app).value_or(app0) - app0;
    const double mem_cpu = ProcessCpuSeconds(membrane).value_or(mem0) - mem0;
    const double self_cpu = SelfCpuSeconds() - self0;
    const long app_peak = ProcessStatusKib(app, "VmHWM").value_or(0);
    const long mem_peak = ProcessStatusKib(membrane, "VmHWM").value_or(0);

    OnIo(io_, [this] { load_.Stop(); });
    const auto drain_end = Clock::now() + duration<double>(o_.drain_s);
    int awaiting = OnIo(io_, [this] { return load_.Awaiting(); });
    while (awaiting > 0 && Clock::now() < drain_end && procs_.Alive()) {
      std::this_thread::sleep_for(milliseconds(20));
      awaiting = OnIo(io_, [this] { return load_.Awaiting(); });
    }
    const uint64_t unexpected_closes = load_.unexpected_closes();
    OnIo(io_, [this] {
      for (auto& c : load_.clients()) c->Close();
    });
    std::this_thread::sleep_for(milliseconds(300));
    const std::string app_exit = procs_.app->Stop();
    const std::string membrane_exit = procs_.membrane->Stop();

    const double messages = static_cast<double>(w.messages);
    // CPU per unit of work: per message for echo, per delivery for broadcast.
    const double units = o_.mode == Mode::kEcho ? messages : static_cast<double>(w.deliveries);
    auto per_unit = [units](double cpu) { return units > 0 ? cpu * 1e6 / units : 0.0; };
    std::printf("%-10s %-9s N=%-4d %9.0f msg/s", o_.name.c_str(),
                o_.mode == Mode::kEcho ? "e2e-echo" : "broadcast", o_.clients, messages / seconds);
    if (o_.mode == Mode::kBroadcast) std::printf("  %9.0f deliveries/s", w.deliveries / seconds);
    std::printf(
        "  p50 %8.1f us  p99 %9.1f us  app %5.1f us/%s (%3.0f%%)  membrane %5.1f  driver %5.1f  "
        "app peak %.1f MiB\n",
        w.latency.p50_us, w.latency.p99_us, per_unit(app_cpu),
        o_.mode == Mode::kEcho ? "msg" : "delivery", 100 * app_cpu / seconds, per_unit(mem_cpu),
        per_unit(self_cpu), app_peak / 1024.0);
    std::printf(
        "%-10s %-9s ready %.0f ms, %d clients connected in %.0f ms; unanswered %d, "
        "mismatched %llu, dropped clients %llu; exit: app %s, membrane %s\n",
        o_.name.c_str(), "", ready_ms_, o_.clients, connect_ms_, awaiting,
        static_cast<unsigned long long>(load_.mismatches()),
        static_cast<unsigned long long>(unexpected_closes), app_exit.c_str(),
        membrane_exit.c_str());
    json_.Add("messages", w.messages)
        .Add("deliveries", w.deliveries)
        .Add("seconds", seconds)
        .Add("messages_per_s", messages / seconds)
        .Add("deliveries_per_s", w.deliveries / seconds)
        .Add("p50_us", w.latency.p50_us)
        .Add("p99_us", w.latency.p99_us)
        .Add("max_us", w.latency.max_us)
        .Add("app_cpu_us_per_unit", per_unit(app_cpu))
        .Add("app_cpu_pct", 100 * app_cpu / seconds)
        .Add("membrane_cpu_us_per_unit", per_unit(mem_cpu))
        .Add("driver_cpu_us_per_unit", per_unit(self_cpu))
        .Add("driver_cpu_pct", 100 * self_cpu / seconds)
        .Add("app_peak_rss_kib", app_peak)
        .Add("membrane_peak_rss_kib", mem_peak)
        .Add("ready_ms", ready_ms_)
        .Add("connect_ms", connect_ms_)
        .Add("unanswered", awaiting)
        .Add("mismatched", load_.mismatches())
        .Add("dropped_clients", unexpected_closes)
        .Add("exit", app_exit);
    if (!survived) return Fail("a process died while measured: app " + app_exit);
    if (w.messages == 0) return Fail("no message came back while measured");
    // Correctness, whatever the speed: every message came back, to the right
    // client, and no client was dropped.
    if (awaiting > 0) return Fail(std::to_string(awaiting) + " message(s) never came back");
    if (load_.mismatches() > 0) {
      return Fail(std::to_string(load_.mismatches()) + " message(s) came back wrong or twice");
    }
    if (unexpected_closes > 0) {
      return Fail(std::to_string(unexpected_closes) + " client(s) dropped");
    }
    json_.Add("status", "ok");
    json_.AppendTo(o_.json_path);
    return 0;
  }

  int Fail(const std::string& reason) {
    std::fprintf(stderr, "nitric-bench-e2e [%s]: %s\n", o_.name.c_str(), reason.c_str());
    json_.Add("status", "failed").Add("reason", reason);
    json_.AppendTo(o_.json_path);
    return 1;
  }

  const Options& o_;
  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
      net::make_work_guard(io_)};
  std::thread io_thread_;
  Load load_;
  Processes procs_;
  JsonLine json_;
  std::string data_dir_;
  std::string membrane_log_;
  uint16_t gateway_port_ = 0;
  Clock::time_point app_started_;
  double ready_ms_ = 0;
  double connect_ms_ = 0;
};

}  // namespace
}  // namespace nitric::bench

int main(int argc, char** argv) {
  nitric::bench::InstallKillOnSignal();
  signal(SIGPIPE, SIG_IGN);
  std::optional<nitric::bench::Options> options;
  try {
    options = nitric::bench::ParseArgs(argc, argv);
  } catch (const std::exception&) {  // a number that does not parse
  }
  if (!options) {
    nitric::bench::Usage();
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  nitric::bench::E2eRun run(*options);
  return run.Run();
}
