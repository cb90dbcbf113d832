// The KvStore gRPC service (docs/PROTOCOL.md#kv, nitric.proto.kvstore.v1) over
// KvStores: Struct values stored as JSON text.
#pragma once

#include "devserver/cq_poller.h"
#include "devserver/cq_unary.h"
#include "devserver/kv_store.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"

namespace nitric::devserver {

namespace kvproto = ::nitric::proto::kvstore::v1;

// Served on the completion-queue API, on the dev membrane's polling threads
// (CqPoller; docs/ARCHITECTURE.md#dev-membrane). The SQLite work of a call runs
// inline there: it is short (no fsync per commit in WAL/NORMAL mode) and
// avoids a hand-off per call.
//
// Thread-safety: all state lives in KvStores.
// REQUIRES: `stores` outlives the service.
class KvService final : public kvproto::KvStore::AsyncService {
 public:
  explicit KvService(KvStores& stores) : stores_(stores) {}

  // Starts serving on `poller`'s queue (see WebsocketService::Start).
  void Start(CqPoller& poller);

  grpc::Status DoGetValue(grpc::ServerContext& ctx, kvproto::KvStoreGetValueRequest& request,
                          kvproto::KvStoreGetValueResponse* response);
  grpc::Status DoSetValue(grpc::ServerContext& ctx, kvproto::KvStoreSetValueRequest& request,
                          kvproto::KvStoreSetValueResponse* response);
  grpc::Status DoDeleteKey(grpc::ServerContext& ctx, kvproto::KvStoreDeleteKeyRequest& request,
                           kvproto::KvStoreDeleteKeyResponse* response);

 private:
  // Validates `ref` (present, store and key non-empty) and finds its store.
  grpc::Status Resolve(bool has_ref, const kvproto::ValueRef& ref, KvStore** store);

  class ScanCall;

  KvStores& stores_;
  CqPoller* poller_ = nullptr;
  CqUnaryMethod<KvService, kvproto::KvStoreGetValueRequest, kvproto::KvStoreGetValueResponse> get_;
  CqUnaryMethod<KvService, kvproto::KvStoreSetValueRequest, kvproto::KvStoreSetValueResponse> set_;
  CqUnaryMethod<KvService, kvproto::KvStoreDeleteKeyRequest, kvproto::KvStoreDeleteKeyResponse>
      delete_;
};

}  // namespace nitric::devserver
