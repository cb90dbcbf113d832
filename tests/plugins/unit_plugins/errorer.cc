// Misbehaving on purpose: handlers that return errors. Socket "errorer".
//   connect -> Error("not welcome") unless query param "ok" is present
//   message -> Error(UNAVAILABLE, "db down")
#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("errorer", [](Plugin& p) {
  auto ws = p.NewWebsocket("errorer");
  ws.On(EventType_Connect, [](Ctx& ctx) -> Error {
    if (ctx.Request.QueryParam("ok")) return {};
    return Error("not welcome");
  });
  ws.On(EventType_Message, []() -> Error { return Error(NITRIC_ERR_UNAVAILABLE, "db down"); });
});
