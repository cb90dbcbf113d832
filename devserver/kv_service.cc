#include "devserver/kv_service.h"

#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>

namespace nitric::devserver {

// One ScanKeys call. The key list is read in full beforehand (so no database
// lock is held while the client drains the stream) and written one message per
// key, one write in flight at a time; deleted once gRPC hands back the finish
// (or, not ok, the request when the server shuts down).
class KvService::ScanCall final : public CqPoller::Handler {
 public:
  // Asks gRPC for one call; nothing once the queue is shut down.
  static void Request(KvService* service) {
    auto* call = new ScanCall(service);
    if (!service->poller_->IfOpen([&] {
          service->RequestScanKeys(&call->ctx_, &call->request_, &call->writer_,
                                   service->poller_->cq(), service->poller_->cq(),
                                   &call->accept_tag_);
        })) {
      delete call;
    }
  }

  void OnCompletion(uint8_t op, bool ok) override {
    switch (op) {
      case kAccept:
        if (!ok) break;  // the server shuts down
        Request(service_);
        Scan();
        return;
      case kWrite:
        if (!ok) {
          // The client went away; the call must still be finished.
          if (Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client stopped reading"))) return;
          break;
        }
        if (WriteNext()) return;
        break;
      case kFinish:
        break;
    }
    delete this;
  }

 private:
  enum Op : uint8_t { kAccept, kWrite, kFinish };

  explicit ScanCall(KvService* service) : service_(service) {}
  ~ScanCall() = default;

  void Scan() {
    grpc::Status s;
    if (!request_.has_store() || request_.store().name().empty()) {
      s = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "store name is empty");
    } else {
      KvStore* store = nullptr;
      s = service_->stores_.Get(request_.store().name(), &store);
      if (s.ok()) s = store->ScanKeys(request_.prefix(), &keys_);
    }
    if (!(s.ok() ? WriteNext() : Finish(std::move(s)))) delete this;
  }

  // Starts the next write, or the finish after the last key. False when the
  // queue is gone.
  bool WriteNext() {
    if (next_ == keys_.size()) return Finish(grpc::Status::OK);
    response_.set_key(std::move(keys_[next_++]));
    return service_->poller_->IfOpen([&] { writer_.Write(response_, &write_tag_); });
  }

  bool Finish(grpc::Status status) {
    return service_->poller_->IfOpen([&] { writer_.Finish(status, &finish_tag_); });
  }

  KvService* const service_;
  grpc::ServerContext ctx_;
  kvproto::KvStoreScanKeysRequest request_;
  grpc::ServerAsyncWriter<kvproto::KvStoreScanKeysResponse> writer_{&ctx_};
  CqPoller::Tag accept_tag_{this, kAccept};
  CqPoller::Tag write_tag_{this, kWrite};
  CqPoller::Tag finish_tag_{this, kFinish};
  std::vector<std::string> keys_;
  std::size_t next_ = 0;
  kvproto::KvStoreScanKeysResponse response_;  // in flight until its write completes
};

void KvService::Start(CqPoller& poller) {
  poller_ = &poller;
  get_ = {this, &poller, &KvService::RequestGetValue, &KvService::DoGetValue};
  set_ = {this, &poller, &KvService::RequestSetValue, &KvService::DoSetValue};
  delete_ = {this, &poller, &KvService::RequestDeleteKey, &KvService::DoDeleteKey};
  ServeOnQueue(&get_, 2);
  ServeOnQueue(&set_, 2);
  ServeOnQueue(&delete_, 1);
  ScanCall::Request(this);
}

grpc::Status KvService::Resolve(bool has_ref, const kvproto::ValueRef& ref, KvStore** store) {
  if (!has_ref) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing value ref");
  if (ref.store().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "store name is empty");
  }
  if (ref.key().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "key is empty");
  return stores_.Get(ref.store(), store);
}

grpc::Status KvService::DoGetValue(grpc::ServerContext& /*ctx*/,
                                   kvproto::KvStoreGetValueRequest& request,
                                   kvproto::KvStoreGetValueResponse* response) {
  KvStore* store = nullptr;
  grpc::Status s = Resolve(request.has_ref(), request.ref(), &store);
  if (!s.ok()) return s;
  std::string json;
  s = store->Get(request.ref().key(), &json);
  if (!s.ok()) return s;
  kvproto::Value* value = response->mutable_value();
  *value->mutable_ref() = request.ref();
  auto parsed = google::protobuf::util::JsonStringToMessage(json, value->mutable_content());
  if (!parsed.ok()) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "stored value is not a JSON object: " + parsed.ToString());
  }
  return grpc::Status::OK;
}

grpc::Status KvService::DoSetValue(grpc::ServerContext& /*ctx*/,
                                   kvproto::KvStoreSetValueRequest& request,
                                   kvproto::KvStoreSetValueResponse* /*response*/) {
  KvStore* store = nullptr;
  grpc::Status s = Resolve(request.has_ref(), request.ref(), &store);
  if (!s.ok()) return s;
  std::string json;
  auto printed = google::protobuf::util::MessageToJsonString(request.content(), &json);
  if (!printed.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "value cannot be stored as JSON: " + printed.ToString());
  }
  return store->Set(request.ref().key(), json);
}

grpc::Status KvService::DoDeleteKey(grpc::ServerContext& /*ctx*/,
                                    kvproto::KvStoreDeleteKeyRequest& request,
                                    kvproto::KvStoreDeleteKeyResponse* /*response*/) {
  KvStore* store = nullptr;
  grpc::Status s = Resolve(request.has_ref(), request.ref(), &store);
  if (!s.ok()) return s;
  return store->Delete(request.ref().key());
}

}  // namespace nitric::devserver
