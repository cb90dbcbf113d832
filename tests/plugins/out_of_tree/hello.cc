// The smallest useful plugin: answers every message on socket "hello".
#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("hello", [](Plugin& p) {
  auto ws = p.NewWebsocket("hello");
  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    return ws.Send(ctx.Request.ConnectionID(), "hello, " + ctx.Request.Message());
  });
});
