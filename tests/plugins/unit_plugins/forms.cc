// The four handler shapes of the C++ face, and a few more spellings. Every
// handler that runs sends "<form>" to the connection through socket "forms"
// (declared by all), so a test can see which ran.
//   socket "void"      connect: void()          -> accepted
//   socket "error"     connect: Error()         -> rejected ("form error")
//   socket "ctx"       connect: void(Ctx&)      -> rejected when query "no" present
//   socket "ctxerror"  message: Error(Ctx&)     -> sends "ctxerror:<body>"
//   socket "mutable"   message: mutable void()  -> sends "mutable:<n>" (n = 1, 2, ...)
//   socket "multi"     connect|disconnect|message, one handler: sends "<event type>"
//   socket "generic"   message: [](auto& ctx)   -> sends "generic:<socket>"
// and declares KV store "forms-kv" with Allow(KvStoreGet | KvStoreSet).
#include <atomic>
#include <memory>
#include <string>

#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("forms", [](Plugin& p) {
  auto out = p.NewWebsocket("forms");
  auto calls = std::make_shared<std::atomic<int>>(0);
  p.NewKv("forms-kv").Allow(KvStoreGet | KvStoreSet);

  p.NewWebsocket("void").On(EventType_Connect, [calls] { ++*calls; });
  p.NewWebsocket("error").On(EventType_Connect, []() -> Error { return Error("form error"); });
  p.NewWebsocket("ctx").On(EventType_Connect, [](Ctx& ctx) {
    ctx.Response.Reject = ctx.Request.QueryParam("no").has_value();
  });
  p.NewWebsocket("ctxerror").On(EventType_Message, [out](Ctx& ctx) -> Error {
    return out.Send(ctx.Request.ConnectionID(), "ctxerror:" + ctx.Request.Message());
  });
  auto mut = p.NewWebsocket("mutable");
  mut.On(EventType_Message, [out, n = 0]() mutable {
    ++n;
    (void)out.Send("fixed-connection", "mutable:" + std::to_string(n));
  });
  auto multi = p.NewWebsocket("multi");
  multi.On(EventType_Connect | EventType_Disconnect | EventType_Message, [out](Ctx& ctx) {
    (void)out.Send(ctx.Request.ConnectionID(), ToString(ctx.Request.EventType()));
  });
  p.NewWebsocket("generic").On(EventType_Message, [out](auto& ctx) {
    (void)out.Send(ctx.Request.ConnectionID(), "generic:" + ctx.Request.SocketName());
  });
});
