// nitric-bench-dispatch: the dispatch benchmark's load driver.
//
// Plays the membrane (a FakeMembrane on 127.0.0.1:<ephemeral>), starts the
// process under test with SERVICE_ADDRESS pointing at it, waits until its three
// HandleEvents streams of socket `public` are registered, warms up, then
// measures a fixed window of simulated gateway traffic (EventLoad) and reports
// events/s, latency, the CPU time and peak RSS of the process under test, and
// its own CPU. With --reload-storm it also measures a window with one SIGHUP
// per second (each after swapping the plugin file for another build).
//
//   nitric-bench-dispatch --name host --connections 100 --duration 5
//       --json out.jsonl -- build/bin/nitric-host --plugins DIR
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <absl/synchronization/mutex.h>

#include "bench/common/child_process.h"
#include "bench/common/flags.h"
#include "bench/common/json_line.h"
#include "bench/common/proc_stats.h"
#include "bench/dispatch/event_load.h"
#include "bench/dispatch/fake_membrane.h"

namespace nitric::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::milliseconds;

struct Options {
  std::string name = "contender";
  LoadOptions load;
  double warmup_s = 1.0;
  double duration_s = 5.0;
  double startup_timeout_s = 30.0;
  double idle_settle_s = 0.5;
  std::string json_path;
  std::string log_path;
  // "each": one gRPC write per event; "batched": flush when the queue runs
  // empty, as grpc-go does (FakeMembrane).
  bool batch_writes = false;
  // Reload storm: a window of this many seconds with one SIGHUP per second.
  double reload_storm_s = 0;
  std::string reload_target;               // the plugin file in the plugins folder
  std::vector<std::string> reload_builds;  // copied over it in turn
  std::vector<std::string> command;
};

void Usage() {
  std::fprintf(stderr,
               "usage: nitric-bench-dispatch [--name N] [--connections N] [--messages M]\n"
               "         [--body-bytes B] [--warmup S] [--duration S] [--startup-timeout S]\n"
               "         [--writes each|batched] [--json FILE] [--log FILE]\n"
               "         [--reload-storm S --reload-target DIR/x.so --reload-build A.so\n"
               "          --reload-build B.so]\n"
               "         -- COMMAND [ARGS...]\n");
}

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  const FlagSetters setters = {
      {"--name", [&](const std::string& v) { o.name = v; }},
      {"--connections", [&](const std::string& v) { o.load.connections = std::stoi(v); }},
      {"--messages", [&](const std::string& v) { o.load.messages_per_connection = std::stoi(v); }},
      {"--body-bytes", [&](const std::string& v) { o.load.body_bytes = std::stoul(v); }},
      {"--warmup", [&](const std::string& v) { o.warmup_s = std::stod(v); }},
      {"--duration", [&](const std::string& v) { o.duration_s = std::stod(v); }},
      {"--startup-timeout", [&](const std::string& v) { o.startup_timeout_s = std::stod(v); }},
      {"--json", [&](const std::string& v) { o.json_path = v; }},
      {"--log", [&](const std::string& v) { o.log_path = v; }},
      {"--writes",
       [&](const std::string& v) {
         if (v != "each" && v != "batched") throw std::invalid_argument("--writes");
         o.batch_writes = v == "batched";
       }},
      {"--reload-storm", [&](const std::string& v) { o.reload_storm_s = std::stod(v); }},
      {"--reload-target", [&](const std::string& v) { o.reload_target = v; }},
      {"--reload-build", [&](const std::string& v) { o.reload_builds.push_back(v); }},
  };
  if (!ParseFlags(argc, argv, setters, &o.command)) return std::nullopt;
  if (o.command.empty() || o.load.connections < 1 || o.load.connections > 65535) {
    return std::nullopt;
  }
  if (o.reload_storm_s > 0 && (o.reload_target.empty() || o.reload_builds.size() < 2)) {
    return std::nullopt;
  }
  return o;
}

// Sleeps up to `seconds` in short steps; false as soon as the child is gone.
bool SleepWhileRunning(ChildProcess& child, double seconds) {
  const auto end = Clock::now() + duration<double>(seconds);
  while (Clock::now() < end) {
    if (!child.Running()) return false;
    const auto left = std::chrono::duration_cast<Clock::duration>(end - Clock::now());
    std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(50), left));
  }
  return child.Running();
}

std::set<std::string> MappedSharedObjects(pid_t pid) {
  std::set<std::string> files;
  for (auto& path : MappedFiles(pid, ".so")) files.insert(path);
  return files;
}

// Installs the next build over the plugin file the way an operator should:
// write elsewhere (a dot file the host does not load), then rename into place.
bool InstallBuild(const Options& o, std::size_t build, std::string* error) {
  namespace fs = std::filesystem;
  const fs::path target = o.reload_target;
  fs::path staging = target.parent_path() / ".";
  staging += target.filename();
  staging += ".tmp";
  std::error_code ec;
  fs::copy_file(o.reload_builds[build % o.reload_builds.size()], staging,
                fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(staging, target, ec);
  if (ec) *error = "installing a plugin build: " + ec.message();
  return !ec;
}

// One SIGHUP after a changed build was installed: does the host survive it and
// map a new shared object (the staged new version) within 3 s? Empty when it
// reloads, else why not.
std::string ProbeReload(const Options& o, ChildProcess& child) {
  const auto before = MappedSharedObjects(child.pid());
  std::string error;
  if (!InstallBuild(o, 1, &error)) return error;
  child.Signal(SIGHUP);
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < deadline) {
    if (!child.Running()) {
      return "the host ended on SIGHUP (" + child.ExitDescription() + ")";
    }
    for (const auto& path : MappedSharedObjects(child.pid())) {
      if (before.count(path) == 0) return "";
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return "SIGHUP did not load the changed plugin within 3 s (no new mapping)";
}

struct Measured {
  WindowStats window;
  double process_cpu_s = 0;
  double process_sys_s = 0;
  uint64_t context_switches = 0;
  double driver_cpu_s = 0;
  uint64_t writes = 0;   // event-stream writes by the membrane
  uint64_t flushes = 0;  // of them, those that went out on the socket
  bool child_survived = true;
  int reloads = 0;
};

// One measured window; with `reload_every_s` > 0 a new build is installed and
// SIGHUP sent every that many seconds.
Measured MeasureWindow(const Options& o, FakeMembrane& membrane, EventLoad& load,
                       ChildProcess& child, double seconds, double reload_every_s,
                       std::size_t* next_build) {
  Measured m;
  const uint64_t writes0 = membrane.writes();
  const uint64_t flushes0 = membrane.flushes();
  const auto cpu0 = ProcessCpuTimes(child.pid()).value_or(CpuTimes{});
  const auto switches0 = ProcessContextSwitches(child.pid()).value_or(0);
  const double self0 = SelfCpuSeconds();
  load.BeginWindow();
  if (reload_every_s <= 0) {
    m.child_survived = SleepWhileRunning(child, seconds);
  } else {
    const auto end = Clock::now() + duration<double>(seconds);
    while (m.child_survived && Clock::now() < end) {
      std::string error;
      if (InstallBuild(o, (*next_build)++, &error) && child.Signal(SIGHUP)) ++m.reloads;
      const double left = duration<double>(end - Clock::now()).count();
      m.child_survived = SleepWhileRunning(child, std::min(reload_every_s, std::max(0.0, left)));
    }
  }
  m.window = load.EndWindow();
  const auto cpu1 = ProcessCpuTimes(child.pid()).value_or(cpu0);
  m.process_cpu_s = cpu1.total() - cpu0.total();
  m.process_sys_s = cpu1.system - cpu0.system;
  m.context_switches = ProcessContextSwitches(child.pid()).value_or(switches0) - switches0;
  m.driver_cpu_s = SelfCpuSeconds() - self0;
  m.writes = membrane.writes() - writes0;
  m.flushes = membrane.flushes() - flushes0;
  return m;
}

void AddWindow(JsonLine& json, const std::string& prefix, const Measured& m) {
  const double events = static_cast<double>(m.window.answered);
  json.Add(prefix + "events", m.window.answered)
      .Add(prefix + "seconds", m.window.seconds)
      .Add(prefix + "events_per_s", events / m.window.seconds)
      .Add(prefix + "p50_us", m.window.latency.p50_us)
      .Add(prefix + "p99_us", m.window.latency.p99_us)
      .Add(prefix + "max_us", m.window.latency.max_us)
      .Add(prefix + "cpu_us_per_event", events > 0 ? m.process_cpu_s * 1e6 / events : 0.0)
      .Add(prefix + "cpu_pct", 100.0 * m.process_cpu_s / m.window.seconds)
      .Add(prefix + "sys_pct_of_cpu",
           m.process_cpu_s > 0 ? 100.0 * m.process_sys_s / m.process_cpu_s : 0.0)
      .Add(prefix + "context_switches_per_event",
           events > 0 ? static_cast<double>(m.context_switches) / events : 0.0)
      .Add(prefix + "driver_cpu_us_per_event", events > 0 ? m.driver_cpu_s * 1e6 / events : 0.0)
      .Add(prefix + "driver_cpu_pct", 100.0 * m.driver_cpu_s / m.window.seconds)
      .Add(prefix + "writes_per_flush",
           m.flushes > 0 ? static_cast<double>(m.writes) / static_cast<double>(m.flushes) : 0.0);
}

void PrintWindow(const char* label, const Options& o, const Measured& m) {
  const double events = static_cast<double>(m.window.answered);
  std::printf(
      "%-10s %-9s N=%-4d %9.0f ev/s  p50 %7.1f us  p99 %8.1f us  max %9.1f us  "
      "cpu %5.1f us/ev (%3.0f%%, sys %2.0f%%, %.2f cs/ev)  driver %5.1f us/ev (%3.0f%%)  "
      "%.1f writes/flush\n",
      o.name.c_str(), label, o.load.connections, events / m.window.seconds, m.window.latency.p50_us,
      m.window.latency.p99_us, m.window.latency.max_us,
      events > 0 ? m.process_cpu_s * 1e6 / events : 0.0, 100.0 * m.process_cpu_s / m.window.seconds,
      m.process_cpu_s > 0 ? 100.0 * m.process_sys_s / m.process_cpu_s : 0.0,
      events > 0 ? static_cast<double>(m.context_switches) / events : 0.0,
      events > 0 ? m.driver_cpu_s * 1e6 / events : 0.0, 100.0 * m.driver_cpu_s / m.window.seconds,
      m.flushes > 0 ? static_cast<double>(m.writes) / static_cast<double>(m.flushes) : 0.0);
}

int Fail(const Options& o, JsonLine& json, const std::string& reason) {
  std::fprintf(stderr, "nitric-bench-dispatch [%s]: %s\n", o.name.c_str(), reason.c_str());
  json.Add("status", "failed").Add("reason", reason);
  json.AppendTo(o.json_path);
  return 1;
}

int Run(const Options& o) {
  JsonLine json;
  json.Add("bench", o.reload_storm_s > 0 ? "reload"
                    : o.batch_writes     ? "dispatch-batched"
                                         : "dispatch")
      .Add("writes", o.batch_writes ? "batched" : "each")
      .Add("contender", o.name)
      .Add("connections", o.load.connections)
      .Add("body_bytes", static_cast<long long>(o.load.body_bytes));

  EventLoad* load_ptr = nullptr;
  FakeMembrane membrane(
      [&load_ptr](const std::string& id, bool reject) { load_ptr->OnAnswer(id, reject); },
      o.batch_writes);
  EventLoad load(membrane, o.load);
  load_ptr = &load;
  // On every return: the membrane stops (no answer reaches `load` any more)
  // before `load` goes, and after the child (declared below) was stopped.
  struct ShutdownOnExit {
    FakeMembrane& membrane;
    ~ShutdownOnExit() { membrane.Shutdown(); }
  } shutdown_on_exit{membrane};
  std::string error;
  if (!membrane.Start(&error)) return Fail(o, json, error);

  ChildOptions child_options;
  child_options.argv = o.command;
  child_options.env_set["SERVICE_ADDRESS"] = membrane.address();
  child_options.env_unset = {"NITRIC_ENVIRONMENT"};
  child_options.log_path = o.log_path;
  const auto spawned_at = Clock::now();
  auto child = ChildProcess::Spawn(child_options, &error);
  if (!child) return Fail(o, json, error);

  // Start-up: spawn until all three streams are registered.
  const auto deadline = spawned_at + duration<double>(o.startup_timeout_s);
  std::optional<Clock::time_point> registered;
  while (!registered && Clock::now() < deadline && child->Running()) {
    registered = membrane.WaitRegistered(o.load.socket, Clock::now() + milliseconds(100));
  }
  if (!registered) {
    const std::string why = child->Running()
                                ? "not registered in time"
                                : "exited during start-up: " + child->ExitDescription();
    return Fail(o, json,
                "no HandleEvents streams for Connect, Disconnect and Message of '" + o.load.socket +
                    "' (" + why + ", " + std::to_string(membrane.RegisteredCount()) +
                    " of 3 registered)");
  }
  const double startup_ms = duration<double, std::milli>(*registered - spawned_at).count();
  if (!SleepWhileRunning(*child, o.idle_settle_s)) return Fail(o, json, "exited while idle");
  const long idle_rss_kib = ProcessStatusKib(child->pid(), "VmRSS").value_or(0);
  const long idle_hwm_kib = ProcessStatusKib(child->pid(), "VmHWM").value_or(0);
  json.Add("startup_ms", startup_ms).Add("idle_rss_kib", idle_rss_kib);

  load.Start();
  if (!SleepWhileRunning(*child, o.warmup_s)) {
    return Fail(o, json, "exited during warm-up: " + child->ExitDescription());
  }
  if (load.answered() == 0) return Fail(o, json, "no event answered during warm-up");

  std::size_t next_build = 0;
  if (o.reload_storm_s > 0) {
    const std::string unsupported = ProbeReload(o, *child);
    next_build = 2;
    if (!unsupported.empty()) {
      std::printf("%-10s reload    not supported by this host build: %s\n", o.name.c_str(),
                  unsupported.c_str());
      child->Stop();
      json.Add("status", "unsupported").Add("reason", unsupported);
      json.AppendTo(o.json_path);
      return 0;
    }
    if (!SleepWhileRunning(*child, 1.0)) return Fail(o, json, "exited after the probe reload");
  }

  const Measured steady = MeasureWindow(o, membrane, load, *child, o.duration_s, 0, &next_build);
  PrintWindow(o.reload_storm_s > 0 ? "steady" : "dispatch", o, steady);
  AddWindow(json, "", steady);
  bool survived = steady.child_survived;
  if (survived && o.reload_storm_s > 0) {
    const Measured storm =
        MeasureWindow(o, membrane, load, *child, o.reload_storm_s, 1.0, &next_build);
    PrintWindow("storm", o, storm);
    AddWindow(json, "storm_", storm);
    json.Add("reloads", storm.reloads);
    survived = storm.child_survived;
  }
  const long peak_rss_kib = ProcessStatusKib(child->pid(), "VmHWM").value_or(0);

  // The deadline bounds a hang; an answer later than that counts as lost.
  const uint64_t lost = load.Drain(std::chrono::seconds(30));
  const std::string exit = child->Stop();
  membrane.Shutdown();
  std::printf(
      "%-10s memory    idle %.1f MiB (peak %.1f MiB), under load peak %.1f MiB; "
      "start-up %.0f ms; lost %llu, send failures %llu, bad answers %llu, "
      "rejects %llu; exit: %s\n",
      o.name.c_str(), idle_rss_kib / 1024.0, idle_hwm_kib / 1024.0, peak_rss_kib / 1024.0,
      startup_ms, static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(load.send_failures()),
      static_cast<unsigned long long>(load.bad_answers()),
      static_cast<unsigned long long>(load.rejects()), exit.c_str());
  json.Add("peak_rss_kib", peak_rss_kib)
      .Add("lost", lost)
      .Add("total_answered", load.answered())
      .Add("send_failures", load.send_failures())
      .Add("bad_answers", load.bad_answers())
      .Add("rejects", load.rejects())
      .Add("exit", exit);
  if (!survived) return Fail(o, json, "the process under test died while measured: " + exit);
  if (steady.window.answered == 0) return Fail(o, json, "no event answered while measured");
  // Correctness, whatever the speed: every event answered exactly once, every
  // send reached a registered stream, and the accept-all plugin rejected none.
  if (lost > 0) return Fail(o, json, std::to_string(lost) + " event(s) never answered");
  if (load.bad_answers() > 0) {
    return Fail(o, json,
                std::to_string(load.bad_answers()) + " answer(s) to an unknown event or repeated");
  }
  if (load.send_failures() > 0) {
    return Fail(o, json,
                std::to_string(load.send_failures()) + " event(s) found no registered stream");
  }
  if (load.rejects() > 0) {
    return Fail(o, json, std::to_string(load.rejects()) + " connect(s) rejected");
  }
  json.Add("status", "ok");
  json.AppendTo(o.json_path);
  return 0;
}

}  // namespace
}  // namespace nitric::bench

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG: absl::Mutex deadlock detection
  // would cost the driver about a tenth of its CPU per event.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
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
  return nitric::bench::Run(*options);
}
