// broadcaster: nitric::Broadcast (plugin.hpp) with every option, for
// tests/testing/broadcast_helper_test.cc. THIS COMMENT IS THE CONTRACT.
//
// Socket "b", KV store "members" (get, set, delete). Config [plugins.broadcaster]:
//   forget = "none" | "gone" | "failed"   the Forget option (default "none")
// Message, body "<prefix>|<data>": Broadcast(ws, members, prefix, data, forget);
//   logs at info "delivered <N> failed [<id>:<STATUS>:<forgotten|kept>,...]"
//   (failures in key order) and returns the result's error.
#include <string>
#include <string_view>

#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("broadcaster", [](Plugin& p) {
  auto ws = p.NewWebsocket("b");
  auto members = p.NewKv("members").Allow(KvStoreGet, KvStoreSet, KvStoreDelete);
  const std::string mode = p.Config("forget").value_or("none");
  const Forget forget = mode == "gone" ? ForgetGone : mode == "failed" ? ForgetFailed : ForgetNone;

  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    const std::string_view body = ctx.Request.MessageView();
    const size_t bar = body.find('|');
    if (bar == std::string_view::npos) return Error("want <prefix>|<data>");
    BroadcastResult result =
        Broadcast(ws, members, body.substr(0, bar), body.substr(bar + 1), forget);
    std::string failed;
    for (const BroadcastFailure& f : result.failed) {
      if (!failed.empty()) failed += ',';
      failed += f.connection_id + ":" + StatusName(f.error.code()) + ":" +
                (f.forgotten ? "forgotten" : "kept");
    }
    p.Info("delivered ", result.delivered, " failed [", failed, "]");
    return result.error;
  });
});
