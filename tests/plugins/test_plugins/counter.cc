// counter: keeps a count across hot reloads through the state hand-over.
// Socket "counter": every message increments the count and is answered with
// "<count> build <build>", where <build> is config key `build` (default 0) —
// reloading with another config value is how tests make a "new version" of
// the same file. ExportState writes the count as decimal text; ImportState
// reads it back.
#include <atomic>
#include <charconv>
#include <memory>
#include <string>

#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("counter", [](Plugin& p) {
  auto ws = p.NewWebsocket("counter");
  auto count = std::make_shared<std::atomic<long long>>(0);
  const long long build = p.ConfigInt("build").value_or(0);

  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    const long long now = ++*count;
    return ws.Send(ctx.Request.ConnectionID(),
                   std::to_string(now) + " build " + std::to_string(build));
  });

  p.ExportState([=] { return std::to_string(count->load()); });
  p.ImportState([=](std::string_view bytes) -> Error {
    long long n = 0;
    auto r = std::from_chars(bytes.data(), bytes.data() + bytes.size(), n);
    if (r.ec != std::errc() || r.ptr != bytes.data() + bytes.size()) {
      return Error("state is not a decimal count: '" + std::string(bytes) + "'");
    }
    count->store(n);
    return {};
  });
  p.OnShutdown([=] { p.Info("counter shutting down at ", count->load()); });
});
