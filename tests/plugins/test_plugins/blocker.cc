// blocker: handlers that block until the test lets them go, for the
// isolation tests (tests/host/host_isolation_test.cc). Socket "blocker".
//
//   connect ?block=NAME   the connect handler blocks on gate NAME, then accepts
//   message "block:NAME"  blocks on gate NAME, then returns OK (no send)
//   message "open:NAME"   opens gate NAME (every handler waiting on it returns)
//                         and answers "opened:NAME"
//   anything else         echoed back
// Every handler that starts to block logs "blocking on NAME" (the host's
// stderr), so a test can wait until it is really blocked. A gate stays open
// once opened. [plugins.blocker] init = "hang" makes init() block forever
// after logging "init hangs" (for --check and reload tests).
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include <nitric/plugin.hpp>

using namespace nitric;

namespace {

class Gates {
 public:
  void Wait(const std::string& name) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return open_.count(name) != 0; });
  }
  void Open(const std::string& name) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_.insert(name);
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> open_;  // GUARDED_BY(mu_)
};

}  // namespace

NITRIC_PLUGIN_VERSIONED("blocker", "1.0", [](Plugin& p) {
  if (p.Config("init").value_or("") == "hang") {
    p.Info("init hangs");
    Gates never;
    never.Wait("never");
  }
  auto ws = p.NewWebsocket("blocker");
  auto gates = std::make_shared<Gates>();

  ws.On(EventType_Connect, [=](Ctx& ctx) {
    auto params = ctx.Request.QueryParams();
    auto block = params.find("block");
    if (block == params.end() || block->second.empty()) return;
    p.Info("blocking on ", block->second[0]);
    gates->Wait(block->second[0]);
  });

  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    const std::string id = ctx.Request.ConnectionID();
    const std::string body = ctx.Request.Message();
    if (body.rfind("block:", 0) == 0) {
      const std::string name = body.substr(6);
      p.Info("blocking on ", name);
      gates->Wait(name);
      return Error();
    }
    if (body.rfind("open:", 0) == 0) {
      const std::string name = body.substr(5);
      gates->Open(name);
      return ws.Send(id, "opened:" + name);
    }
    return ws.Send(id, body);
  });
});
