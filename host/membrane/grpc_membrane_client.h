// MembraneClient over the membrane's KvStore and Websocket gRPC services: the
// calls behind the plugin API's KV and send functions, and the one place where
// gRPC status codes become nitric statuses (StatusFromGrpc).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include "host/base/host_metrics.h"
#include "host/base/membrane_client.h"
#include "host/base/mutex.h"
#include "host/membrane/completion_queue_thread.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::host {

// The nitric status a plugin sees for a gRPC failure; OK for OK (without
// allocating). The message is the gRPC message followed by "(gRPC code N)".
// The mapping: NOT_FOUND -> NOT_FOUND; INVALID_ARGUMENT, OUT_OF_RANGE ->
// INVALID_ARGUMENT; PERMISSION_DENIED, UNAUTHENTICATED -> PERMISSION_DENIED;
// RESOURCE_EXHAUSTED (a message over gRPC's size limit) -> TOO_LARGE;
// UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, CANCELLED -> UNAVAILABLE;
// FAILED_PRECONDITION -> FAILED_PRECONDITION; any other -> INTERNAL.
Status StatusFromGrpc(const grpc::Status& status);

// Every call carries the x-nitric-service-name metadata and the configured
// deadline, and fails fast (UNAVAILABLE) while the membrane is unreachable
// instead of waiting for it. Thread-safe: the stubs are shared by all workers.
class GrpcMembraneClient final : public MembraneClient {
 public:
  // SendAsync starts an asynchronous call whose completion runs on `queue`
  // (see host/plugins/send_batch.h); without a queue it blocks like Send.
  // `pipeline_sends` (host.pipelined_sends) is what PipelinesSends() says:
  // whether a 1.0 plugin's ws_send pipelines. `queue` must outlive the client.
  // `metrics` (may be null; must outlive the client): every send and KV
  // call is counted there with its outcome (a KvGet of a missing key counts
  // as ok: the store answered).
  GrpcMembraneClient(std::shared_ptr<grpc::Channel> channel, std::string service_name,
                     std::chrono::milliseconds timeout, CompletionQueueThread* queue,
                     bool pipeline_sends = false, HostMetrics* metrics = nullptr);
  // Waits for the sends in flight to complete.
  ~GrpcMembraneClient() override;

  Status Send(std::string_view socket, std::string_view connection_id,
              std::string_view data) override;
  void SendAsync(std::string_view socket, std::string_view connection_id, std::string_view data,
                 SendDone done) override;
  bool PipelinesSends() const override { return pipeline_sends_; }
  Status Close(std::string_view socket, std::string_view connection_id) override;
  Status SocketUrl(std::string_view socket, std::string* url) override;

  Status KvGet(std::string_view store, std::string_view key, std::string* json) override;
  Status KvSet(std::string_view store, std::string_view key, std::string_view json) override;
  Status KvDelete(std::string_view store, std::string_view key) override;
  Status KvKeys(std::string_view store, std::string_view prefix,
                std::vector<std::string>* keys) override;

 private:
  void Prepare(grpc::ClientContext* context) const;
  // The calls themselves; the public ones count them.
  Status SendCall(std::string_view socket, std::string_view connection_id, std::string_view data);
  Status KvGetCall(std::string_view store, std::string_view key, std::string* json);
  Status KvSetCall(std::string_view store, std::string_view key, std::string_view json);
  Status KvDeleteCall(std::string_view store, std::string_view key);
  Status KvKeysCall(std::string_view store, std::string_view prefix,
                    std::vector<std::string>* keys);
  // KvKeysCall's stream, read on the completion queue's thread.
  Status KvKeysOnQueue(const proto::kvstore::v1::KvStoreScanKeysRequest& request,
                       std::vector<std::string>* keys);
  Status CountKv(std::string_view store, KvOp op, Status status) const;

  const std::string service_name_;
  const std::chrono::milliseconds timeout_;
  const bool pipeline_sends_;
  std::unique_ptr<proto::websockets::v1::Websocket::Stub> websocket_;
  std::unique_ptr<proto::kvstore::v1::KvStore::Stub> kv_;
  CompletionQueueThread* const queue_;
  HostMetrics* const metrics_;

  Mutex sends_mu_;
  std::condition_variable sends_done_;
  int sends_in_flight_ ABSL_GUARDED_BY(sends_mu_) = 0;
};

}  // namespace nitric::host
