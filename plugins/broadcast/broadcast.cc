// The seed's "Manage Websocket connections" example (Nitric Go SDK docs,
// Websocket.On), line by line: every connection is stored in the KV store
// "connections"; a message on socket "public" goes to every stored connection.
#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("broadcast", [](Plugin& p) {
  auto ws = p.NewWebsocket("public");
  auto connections = p.NewKv("connections").Allow(KvStoreGet, KvStoreSet, KvStoreDelete);

  // Register a new connection on connect
  ws.On(EventType_Connect, [=](Ctx& ctx) -> Error {
    return connections.Set(ctx.Request.ConnectionID(),
                           {{"connectionId", ctx.Request.ConnectionID()}});
  });

  // Remove a registered connection on disconnect
  ws.On(EventType_Disconnect,
        [=](Ctx& ctx) -> Error { return connections.Delete(ctx.Request.ConnectionID()); });

  // Broadcast message to all the registered websocket connections, and forget
  // those that are gone (a Disconnect that never came)
  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    return Broadcast(ws, connections, "", ctx.Request.MessageView(), ForgetGone).error;
  });
});
