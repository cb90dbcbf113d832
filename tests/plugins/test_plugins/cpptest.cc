// cpptest: the C++ twin of ctest.c, written with plugin.hpp. It behaves
// exactly as the contract at the top of ctest.c says, with name "cpptest"
// (config [plugins.cpptest]; socket and store default to "cpptest").
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nitric/plugin.hpp>

using namespace nitric;

namespace {

// "query:" + {"k":["v1","v2"],...}, keys and values in the host's order, read
// through the C ABI: plugin.hpp's QueryParams() is a std::map, which would
// sort the keys itself and hide whether the host keeps its promise.
std::string RenderQuery(const nitric_host_api* api, const nitric_event* event) {
  std::string out = "query:{";
  const size_t count = api->event_query_count(event);
  for (size_t k = 0; k < count; ++k) {
    nitric_str key{};
    size_t values = 0;
    if (api->event_query_key(event, k, &key, &values) != NITRIC_OK) break;
    if (k != 0) out += ',';
    detail::AppendJsonString(out, std::string_view(key.ptr, key.len));
    out += ":[";
    for (size_t v = 0; v < values; ++v) {
      nitric_str value{};
      if (api->event_query_value(event, k, v, &value) != NITRIC_OK) break;
      if (v != 0) out += ',';
      detail::AppendJsonString(out, std::string_view(value.ptr, value.len));
    }
    out += ']';
  }
  return out + "}";
}

std::string Status(const Error& err) {
  if (!err) return "ok";
  return std::string("error:") + StatusName(err.code()) + ":" + err.message();
}

// Connections whose first message owes a "query:" frame.
struct PendingQueries {
  std::mutex mu;
  std::unordered_map<std::string, std::string> frames;  // GUARDED_BY(mu)
  unsigned long connects = 0;                           // GUARDED_BY(mu)
  unsigned long disconnects = 0;                        // GUARDED_BY(mu)

  std::optional<std::string> Take(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = frames.find(id);
    if (it == frames.end()) return std::nullopt;
    std::string frame = std::move(it->second);
    frames.erase(it);
    return frame;
  }
};

}  // namespace

NITRIC_PLUGIN_VERSIONED("cpptest", "1.0", [](Plugin& p) {
  const std::string socket = p.Config("socket").value_or("cpptest");
  const std::string store_name = p.Config("store").value_or("cpptest");
  auto ws = p.NewWebsocket(socket);
  auto store = p.NewKv(store_name).Allow(KvStoreGet, KvStoreSet, KvStoreDelete);
  auto undeclared = p.NewKv("not-declared");  // never Allow()ed
  auto pending = std::make_shared<PendingQueries>();

  ws.On(EventType_Connect, [=](Ctx& ctx) -> Error {
    {
      std::lock_guard<std::mutex> lock(pending->mu);
      ++pending->connects;
    }
    auto params = ctx.Request.QueryParams();
    auto token = params.find("token");
    if (token != params.end() && !token->second.empty() && token->second[0] == "bad") {
      ctx.Response.Reject = true;
      return {};
    }
    if (params.count("greet") != 0) {
      if (auto err = ws.Send(ctx.Request.ConnectionID(), "welcome")) return err;
    }
    if (params.count("echo_query") != 0) {
      std::lock_guard<std::mutex> lock(pending->mu);
      pending->frames[ctx.Request.ConnectionID()] = RenderQuery(p.api(), ctx.Request.raw());
    }
    return {};
  });

  ws.On(EventType_Disconnect, [=](Ctx& ctx) {
    pending->Take(ctx.Request.ConnectionID());
    std::lock_guard<std::mutex> lock(pending->mu);
    ++pending->disconnects;
  });

  ws.On(EventType_Message, [=](Ctx& ctx) -> Error {
    const std::string id = ctx.Request.ConnectionID();
    const std::string_view body = ctx.Request.MessageView();
    auto send = [&](std::string_view data) { return ws.Send(id, data); };

    if (auto frame = pending->Take(id)) {
      if (auto err = send(*frame)) return err;
    }
    if (body.rfind("burst:", 0) == 0) {
      // n sends to the sender in one handler call: "burst 0" .. "burst n-1".
      const int n = std::stoi(std::string(body.substr(6)));
      for (int i = 0; i < n; ++i) {
        if (auto err = send("burst " + std::to_string(i))) return err;
      }
      return send("burst done");
    }
    // ctest.c's "sendto:" (ws_send), "startto:" (ws_send_start without an
    // id) and "waitto:" (with an id, then ws_send_wait), through the C++
    // face: SendAndWait, Send and StartSend().Wait().
    if (body.rfind("sendto:", 0) == 0) {
      return send(Status(ws.SendAndWait(body.substr(7), "hello from " + id)));
    }
    if (body.rfind("startto:", 0) == 0) {
      return send(Status(ws.Send(body.substr(8), "hello from " + id)));
    }
    if (body.rfind("waitto:", 0) == 0) {
      return send(Status(ws.StartSend(body.substr(7), "hello from " + id).Wait()));
    }
    if (body == "bye") {
      // The goodbye must arrive before the close frame.
      if (auto err = send("goodbye")) return err;
      return ws.Close(id);
    }
    if (body == "close") return ws.Close(id);
    if (body == "fail") return Error("fail requested");
    if (body == "details") {
      auto url = ws.Details();
      return url ? send(*url) : send(Status(url.error()));
    }
    if (body == "declare") {
      // After init the host refuses declarations; use the C ABI directly to
      // see its answer (the C++ face would only log it).
      nitric_status st = p.api()->declare_kv(p.host(), detail::Str("late"), NITRIC_KV_GET);
      return send(Status(st == NITRIC_OK ? Error() : Error(st, p.api()->last_error())));
    }
    if (body.rfind("kv:set:", 0) == 0) {
      const std::string_view rest = body.substr(7);
      const size_t colon = rest.find(':');
      if (colon == std::string_view::npos) {
        return send(Status(Error(NITRIC_ERR_INVALID_ARGUMENT, "kv:set:<key>:<json>")));
      }
      return send(Status(store.SetJSON(rest.substr(0, colon), rest.substr(colon + 1))));
    }
    if (body.rfind("kv:get:", 0) == 0) {
      auto value = store.GetJSON(body.substr(7));
      return value ? send(*value) : send(Status(value.error()));
    }
    if (body.rfind("kv:delete:", 0) == 0) return send(Status(store.Delete(body.substr(10))));
    if (body.rfind("kv:keys:", 0) == 0) {
      auto stream = store.Keys(body.substr(8));
      if (!stream) return send(Status(stream.error()));
      std::string out = "[";
      for (;;) {
        auto key = stream->Recv();
        if (!key) {
          if (!key.error().IsDone()) return send(Status(key.error()));
          break;
        }
        if (out.size() > 1) out += ',';
        detail::AppendJsonString(out, *key);
      }
      return send(out + "]");
    }
    if (body.rfind("sleep:", 0) == 0) {
      const unsigned long ms = std::stoul(std::string(body.substr(6)));
      if (auto err = send("sleeping:" + std::to_string(ms))) return err;
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return send("slept:" + std::to_string(ms));
    }
    if (body.rfind("hold:", 0) == 0) {
      // A gate the test opens by creating the file.
      const std::string path(body.substr(5));
      if (auto err = send("holding")) return err;
      for (int waited = 0; access(path.c_str(), F_OK) != 0; ++waited) {
        if (waited >= 120000) return Error("hold timed out");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return send("released");
    }
    if (body == "counts") {
      std::lock_guard<std::mutex> lock(pending->mu);
      return send("connects:" + std::to_string(pending->connects) +
                  " disconnects:" + std::to_string(pending->disconnects));
    }
    if (body == "kv:denied") {
      auto value = undeclared.GetJSON("k");
      return send(value ? *value : Status(value.error()));
    }
    return send(body);
  });

  p.Info("cpptest ready");
});
