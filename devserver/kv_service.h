// The KvStore gRPC service (docs/PROTOCOL.md#kv, nitric.proto.kvstore.v1) over
// KvStores: Struct values stored as JSON text.
#pragma once

#include "devserver/kv_store.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"

namespace nitric::devserver {

namespace kvproto = ::nitric::proto::kvstore::v1;

// Uses gRPC's callback API. The SQLite work of a call runs inline on gRPC's
// callback thread: it is short (no fsync per commit in WAL/NORMAL mode) and
// avoids a hand-off per call.
//
// Thread-safety: called concurrently by gRPC; all state lives in KvStores.
// REQUIRES: `stores` outlives the service.
class KvService final : public kvproto::KvStore::CallbackService {
 public:
  explicit KvService(KvStores& stores) : stores_(stores) {}

  grpc::ServerUnaryReactor* GetValue(grpc::CallbackServerContext* ctx,
                                     const kvproto::KvStoreGetValueRequest* request,
                                     kvproto::KvStoreGetValueResponse* response) override;
  grpc::ServerUnaryReactor* SetValue(grpc::CallbackServerContext* ctx,
                                     const kvproto::KvStoreSetValueRequest* request,
                                     kvproto::KvStoreSetValueResponse* response) override;
  grpc::ServerUnaryReactor* DeleteKey(grpc::CallbackServerContext* ctx,
                                      const kvproto::KvStoreDeleteKeyRequest* request,
                                      kvproto::KvStoreDeleteKeyResponse* response) override;
  grpc::ServerWriteReactor<kvproto::KvStoreScanKeysResponse>* ScanKeys(
      grpc::CallbackServerContext* ctx, const kvproto::KvStoreScanKeysRequest* request) override;

 private:
  // Validates `ref` (present, store and key non-empty) and finds its store.
  grpc::Status Resolve(bool has_ref, const kvproto::ValueRef& ref, KvStore** store);

  KvStores& stores_;
};

}  // namespace nitric::devserver
