// The example service's plugin: a broadcast chat on socket "chat" (the same
// shape as plugins/broadcast, with its own names).
#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("chat", [](Plugin& p) {
  auto ws = p.NewWebsocket("chat");
  auto members = p.NewKv("chat-members").Allow(KvStoreGet, KvStoreSet, KvStoreDelete);

  ws.On(EventType_Connect, [=](Ctx& ctx) -> Error {
    return members.Set(ctx.Request.ConnectionID(), {{"connectionId", ctx.Request.ConnectionID()}});
  });
  ws.On(EventType_Disconnect,
        [=](Ctx& ctx) -> Error { return members.Delete(ctx.Request.ConnectionID()); });
  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    auto ids = members.Keys();
    if (!ids) return ids.error();
    for (;;) {
      auto id = ids->Recv();
      if (!id) break;
      if (auto err = ws.Send(*id, ctx.Request.Message())) return err;
    }
    return {};
  });
});
