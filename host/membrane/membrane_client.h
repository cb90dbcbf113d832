// The calls plugins make on the membrane (KV, websocket sends). Implemented by
// the membrane session over gRPC; the plugin host API (host/plugins/host_api.cc)
// is written against this interface only.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/status.h>

namespace nitric::host {

class MembraneClient {
 public:
  virtual ~MembraneClient() = default;

  // All calls are blocking, thread-safe, and have a deadline. A membrane that
  // is down gives UNAVAILABLE (never a hang).

  virtual grpc::Status Send(std::string_view socket, std::string_view connection_id,
                            std::string_view data) = 0;

  // Starts a Send; `done` runs exactly once with its result, on any thread,
  // possibly before SendAsync returns. Must not block on the network when
  // PipelinesSends(). The default is a blocking Send.
  using SendDone = std::function<void(const grpc::Status&)>;
  virtual void SendAsync(std::string_view socket, std::string_view connection_id,
                         std::string_view data, SendDone done) {
    done(Send(socket, connection_id, data));
  }
  // True when the plugin API should pipeline the sends of a handler call
  // (host/plugins/send_batch.h) through SendAsync.
  virtual bool PipelinesSends() const { return false; }
  virtual grpc::Status Close(std::string_view socket, std::string_view connection_id) = 0;
  virtual grpc::Status SocketUrl(std::string_view socket, std::string* url) = 0;

  // Values are JSON object text. KvGet of a missing key is NOT_FOUND; KvDelete
  // treats NOT_FOUND as success (PROTOCOL.md: both mean "gone").
  virtual grpc::Status KvGet(std::string_view store, std::string_view key, std::string* json) = 0;
  virtual grpc::Status KvSet(std::string_view store, std::string_view key,
                             std::string_view json) = 0;
  virtual grpc::Status KvDelete(std::string_view store, std::string_view key) = 0;
  // Every key of `store` that starts with `prefix`, in the order streamed.
  virtual grpc::Status KvKeys(std::string_view store, std::string_view prefix,
                              std::vector<std::string>* keys) = 0;
};

}  // namespace nitric::host
