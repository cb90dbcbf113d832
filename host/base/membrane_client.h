// The calls plugins make on the membrane (websocket sends, KV). The plugin
// host API (host/plugins/host_api.cc) is written against this interface only;
// GrpcMembraneClient (host/membrane/grpc_membrane_client.h) implements it over
// the membrane's gRPC services, and the plugin tests fake it. It lives in
// host/base so that plugins/ does not depend on membrane/ (which depends on
// plugins/): see the layering table in host/CMakeLists.txt.
//
// Every failure is a Status whose code is the nitric_status the plugin gets
// and whose message ends up in api->last_error(); the implementation maps its
// transport's errors to those codes (the gRPC client: one function).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "host/base/status.h"

namespace nitric::host {

class MembraneClient {
 public:
  virtual ~MembraneClient() = default;

  // All calls are blocking, thread-safe, and have a deadline. A membrane that
  // is down gives NITRIC_ERR_UNAVAILABLE (never a hang).

  virtual Status Send(std::string_view socket, std::string_view connection_id,
                      std::string_view data) = 0;

  // Starts a Send; `done` runs exactly once with its result, on any thread,
  // possibly before SendAsync returns. Must not block on the network when
  // PipelinesSends(). The default is a blocking Send.
  using SendDone = std::function<void(const Status&)>;
  virtual void SendAsync(std::string_view socket, std::string_view connection_id,
                         std::string_view data, SendDone done) {
    done(Send(socket, connection_id, data));
  }
  // True when the plugin API should pipeline the ws_send calls of a 1.0
  // plugin's handler (host.pipelined_sends; host/plugins/send_batch.h)
  // through SendAsync. A 1.1 plugin's ws_send_start goes through SendAsync
  // whatever this says.
  virtual bool PipelinesSends() const { return false; }
  virtual Status Close(std::string_view socket, std::string_view connection_id) = 0;
  virtual Status SocketUrl(std::string_view socket, std::string* url) = 0;

  // Values are JSON object text. KvGet of a missing key is NOT_FOUND; KvDelete
  // treats a missing key as success (both mean "gone"; docs/PROTOCOL.md#kv).
  virtual Status KvGet(std::string_view store, std::string_view key, std::string* json) = 0;
  virtual Status KvSet(std::string_view store, std::string_view key, std::string_view json) = 0;
  virtual Status KvDelete(std::string_view store, std::string_view key) = 0;
  // Every key of `store` that starts with `prefix`, in the order streamed.
  virtual Status KvKeys(std::string_view store, std::string_view prefix,
                        std::vector<std::string>* keys) = 0;
};

}  // namespace nitric::host
