#include "devserver/kv_service.h"

#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>

namespace nitric::devserver {
namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

// Streams a key list that was read in full beforehand (so no database lock is
// held while the client drains the stream), one message per key.
class ScanKeysReactor final : public grpc::ServerWriteReactor<kvproto::KvStoreScanKeysResponse> {
 public:
  explicit ScanKeysReactor(grpc::Status status) { Finish(std::move(status)); }
  explicit ScanKeysReactor(std::vector<std::string> keys) : keys_(std::move(keys)) { WriteNext(); }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The client went away; the RPC must still be finished.
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client stopped reading"));
      return;
    }
    WriteNext();
  }
  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (next_ == keys_.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    response_.set_key(std::move(keys_[next_++]));
    StartWrite(&response_);
  }

  std::vector<std::string> keys_;
  std::size_t next_ = 0;
  kvproto::KvStoreScanKeysResponse response_;  // in flight until OnWriteDone
};

}  // namespace

grpc::Status KvService::Resolve(bool has_ref, const kvproto::ValueRef& ref, KvStore** store) {
  if (!has_ref) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing value ref");
  if (ref.store().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "store name is empty");
  }
  if (ref.key().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "key is empty");
  return stores_.Get(ref.store(), store);
}

grpc::ServerUnaryReactor* KvService::GetValue(grpc::CallbackServerContext* ctx,
                                              const kvproto::KvStoreGetValueRequest* request,
                                              kvproto::KvStoreGetValueResponse* response) {
  KvStore* store = nullptr;
  grpc::Status s = Resolve(request->has_ref(), request->ref(), &store);
  if (!s.ok()) return Done(ctx, std::move(s));
  std::string json;
  s = store->Get(request->ref().key(), &json);
  if (!s.ok()) return Done(ctx, std::move(s));
  kvproto::Value* value = response->mutable_value();
  *value->mutable_ref() = request->ref();
  auto parsed = google::protobuf::util::JsonStringToMessage(json, value->mutable_content());
  if (!parsed.ok()) {
    return Done(ctx, grpc::Status(grpc::StatusCode::DATA_LOSS,
                                  "stored value is not a JSON object: " + parsed.ToString()));
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* KvService::SetValue(grpc::CallbackServerContext* ctx,
                                              const kvproto::KvStoreSetValueRequest* request,
                                              kvproto::KvStoreSetValueResponse* /*response*/) {
  KvStore* store = nullptr;
  grpc::Status s = Resolve(request->has_ref(), request->ref(), &store);
  if (!s.ok()) return Done(ctx, std::move(s));
  std::string json;
  auto printed = google::protobuf::util::MessageToJsonString(request->content(), &json);
  if (!printed.ok()) {
    return Done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "value cannot be stored as JSON: " + printed.ToString()));
  }
  return Done(ctx, store->Set(request->ref().key(), json));
}

grpc::ServerUnaryReactor* KvService::DeleteKey(grpc::CallbackServerContext* ctx,
                                               const kvproto::KvStoreDeleteKeyRequest* request,
                                               kvproto::KvStoreDeleteKeyResponse* /*response*/) {
  KvStore* store = nullptr;
  grpc::Status s = Resolve(request->has_ref(), request->ref(), &store);
  if (!s.ok()) return Done(ctx, std::move(s));
  return Done(ctx, store->Delete(request->ref().key()));
}

grpc::ServerWriteReactor<kvproto::KvStoreScanKeysResponse>* KvService::ScanKeys(
    grpc::CallbackServerContext* /*ctx*/, const kvproto::KvStoreScanKeysRequest* request) {
  if (!request->has_store() || request->store().name().empty()) {
    return new ScanKeysReactor(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "store name is empty"));
  }
  KvStore* store = nullptr;
  grpc::Status s = stores_.Get(request->store().name(), &store);
  std::vector<std::string> keys;
  if (s.ok()) s = store->ScanKeys(request->prefix(), &keys);
  if (!s.ok()) return new ScanKeysReactor(std::move(s));
  return new ScanKeysReactor(std::move(keys));
}

}  // namespace nitric::devserver
