// Echo: every message on socket "echo" goes back to the connection that sent
// it, byte for byte. The *View() accessors avoid copying the body.
#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("echo", [](Plugin& p) {
  auto ws = p.NewWebsocket("echo");

  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    return ws.Send(ctx.Request.ConnectionIDView(), ctx.Request.MessageView());
  });
});
