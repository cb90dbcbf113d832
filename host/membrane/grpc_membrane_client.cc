#include "host/membrane/grpc_membrane_client.h"

#include <condition_variable>
#include <mutex>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include "host/base/poller.h"
#include "host/membrane/channel.h"

namespace nitric::host {

namespace kvproto = ::nitric::proto::kvstore::v1;
namespace wsproto = ::nitric::proto::websockets::v1;

GrpcMembraneClient::GrpcMembraneClient(std::shared_ptr<grpc::Channel> channel,
                                       std::string service_name, std::chrono::milliseconds timeout,
                                       CompletionQueueThread* queue, bool pipeline_sends,
                                       HostMetrics* metrics)
    : service_name_(std::move(service_name)),
      timeout_(timeout),
      pipeline_sends_(pipeline_sends),
      websocket_(wsproto::Websocket::NewStub(channel)),
      kv_(kvproto::KvStore::NewStub(channel)),
      queue_(queue),
      metrics_(metrics) {}

GrpcMembraneClient::~GrpcMembraneClient() {
  MutexLock lock(&sends_mu_);
  while (sends_in_flight_ != 0) sends_mu_.Wait(sends_done_);
}

void GrpcMembraneClient::Prepare(grpc::ClientContext* context) const {
  PrepareContext(context, service_name_, timeout_);
}

Status StatusFromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status();
  nitric_status code;
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      code = NITRIC_ERR_NOT_FOUND;
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      code = NITRIC_ERR_INVALID_ARGUMENT;
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      code = NITRIC_ERR_PERMISSION_DENIED;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // What gRPC answers for a message over the size limit (either side's):
      // retrying cannot help, so not UNAVAILABLE (plugin.h, TOO_LARGE).
      code = NITRIC_ERR_TOO_LARGE;
      break;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
      code = NITRIC_ERR_UNAVAILABLE;
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      code = NITRIC_ERR_FAILED_PRECONDITION;
      break;
    default:
      code = NITRIC_ERR_INTERNAL;
      break;
  }
  return Status(
      code, fmt::format("{} (gRPC code {})", s.error_message(), static_cast<int>(s.error_code())));
}

namespace {

void FillSendRequest(std::string_view socket, std::string_view connection_id, std::string_view data,
                     wsproto::WebsocketSendRequest* request) {
  request->set_socket_name(std::string(socket));
  request->set_connection_id(std::string(connection_id));
  request->set_data(std::string(data));
}

}  // namespace

Status GrpcMembraneClient::Send(std::string_view socket, std::string_view connection_id,
                                std::string_view data) {
  Status status = SendCall(socket, connection_id, data);
  if (metrics_ != nullptr) metrics_->CountSend(socket, status.ok());
  return status;
}

Status GrpcMembraneClient::SendCall(std::string_view socket, std::string_view connection_id,
                                    std::string_view data) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  wsproto::WebsocketSendRequest request;
  FillSendRequest(socket, connection_id, data, &request);
  wsproto::WebsocketSendResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  return StatusFromGrpc(websocket_->SendMessage(&context, request, &response));
}

void GrpcMembraneClient::SendAsync(std::string_view socket, std::string_view connection_id,
                                   std::string_view data, SendDone done) {
  if (queue_ == nullptr) {
    done(Send(socket, connection_id, data));
    return;
  }
  // Owns everything the call uses until its completion runs.
  struct Call final : CompletionQueueThread::Tag {
    wsproto::WebsocketSendRequest request;
    wsproto::WebsocketSendResponse response;
    grpc::ClientContext context;
    grpc::Status status;
    SendDone done;
    std::unique_ptr<grpc::ClientAsyncResponseReader<wsproto::WebsocketSendResponse>> reader;
    GrpcMembraneClient* client;

    void OnComplete(bool) override {
      if (client->metrics_ != nullptr)
        client->metrics_->CountSend(request.socket_name(), status.ok());
      // An OK status is a null pointer: a successful send allocates nothing here.
      done(StatusFromGrpc(status));
      GrpcMembraneClient* const owner = client;
      delete this;
      MutexLock lock(&owner->sends_mu_);
      if (--owner->sends_in_flight_ == 0) owner->sends_done_.notify_all();
    }
  };
  {
    MutexLock lock(&sends_mu_);
    ++sends_in_flight_;
  }
  auto* call = new Call;
  call->client = this;
  FillSendRequest(socket, connection_id, data, &call->request);
  call->done = std::move(done);
  Prepare(&call->context);
  call->reader = websocket_->AsyncSendMessage(&call->context, call->request, queue_->cq());
  CompletionQueueThread::Starting(call);
  call->reader->Finish(&call->response, &call->status, call);
}

Status GrpcMembraneClient::Close(std::string_view socket, std::string_view connection_id) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  wsproto::WebsocketCloseConnectionRequest request;
  request.set_socket_name(std::string(socket));
  request.set_connection_id(std::string(connection_id));
  wsproto::WebsocketCloseConnectionResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  return StatusFromGrpc(websocket_->CloseConnection(&context, request, &response));
}

Status GrpcMembraneClient::SocketUrl(std::string_view socket, std::string* url) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  wsproto::WebsocketDetailsRequest request;
  request.set_socket_name(std::string(socket));
  wsproto::WebsocketDetailsResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  grpc::Status status = websocket_->SocketDetails(&context, request, &response);
  if (status.ok()) *url = std::move(*response.mutable_url());
  return StatusFromGrpc(status);
}

Status GrpcMembraneClient::CountKv(std::string_view store, KvOp op, Status status) const {
  if (metrics_ != nullptr) {
    metrics_->CountKv(store, op,
                      status.ok() || (op == KvOp::kGet && status.code() == NITRIC_ERR_NOT_FOUND));
  }
  return status;
}

Status GrpcMembraneClient::KvGet(std::string_view store, std::string_view key, std::string* json) {
  return CountKv(store, KvOp::kGet, KvGetCall(store, key, json));
}

Status GrpcMembraneClient::KvSet(std::string_view store, std::string_view key,
                                 std::string_view json) {
  return CountKv(store, KvOp::kSet, KvSetCall(store, key, json));
}

Status GrpcMembraneClient::KvDelete(std::string_view store, std::string_view key) {
  return CountKv(store, KvOp::kDelete, KvDeleteCall(store, key));
}

Status GrpcMembraneClient::KvKeys(std::string_view store, std::string_view prefix,
                                  std::vector<std::string>* keys) {
  return CountKv(store, KvOp::kKeys, KvKeysCall(store, prefix, keys));
}

Status GrpcMembraneClient::KvGetCall(std::string_view store, std::string_view key,
                                     std::string* json) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  kvproto::KvStoreGetValueRequest request;
  request.mutable_ref()->set_store(std::string(store));
  request.mutable_ref()->set_key(std::string(key));
  kvproto::KvStoreGetValueResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  grpc::Status status = kv_->GetValue(&context, request, &response);
  if (!status.ok()) return StatusFromGrpc(status);
  json->clear();
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  auto converted =
      google::protobuf::util::MessageToJsonString(response.value().content(), json, options);
  if (!converted.ok()) {
    return Status(NITRIC_ERR_INTERNAL,
                  "value is not representable as JSON: " + converted.ToString());
  }
  return Status();
}

Status GrpcMembraneClient::KvSetCall(std::string_view store, std::string_view key,
                                     std::string_view json) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  kvproto::KvStoreSetValueRequest request;
  request.mutable_ref()->set_store(std::string(store));
  request.mutable_ref()->set_key(std::string(key));
  auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), request.mutable_content());
  if (!parsed.ok()) {
    return Status(NITRIC_ERR_INVALID_ARGUMENT, "value is not a JSON object: " + parsed.ToString());
  }
  kvproto::KvStoreSetValueResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  return StatusFromGrpc(kv_->SetValue(&context, request, &response));
}

Status GrpcMembraneClient::KvDeleteCall(std::string_view store, std::string_view key) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  kvproto::KvStoreDeleteKeyRequest request;
  request.mutable_ref()->set_store(std::string(store));
  request.mutable_ref()->set_key(std::string(key));
  kvproto::KvStoreDeleteKeyResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  grpc::Status status = kv_->DeleteKey(&context, request, &response);
  // The Nitric CLI answers NOT_FOUND for a missing key, the cloud succeeds:
  // either way the key is gone.
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return Status();
  return StatusFromGrpc(status);
}

Status GrpcMembraneClient::KvKeysCall(std::string_view store, std::string_view prefix,
                                      std::vector<std::string>* keys) {
  AboutToBlock();  // a blocking call: not on the polling thread's turn
  kvproto::KvStoreScanKeysRequest request;
  request.mutable_store()->set_name(std::string(store));
  request.set_prefix(std::string(prefix));
  keys->clear();
  if (queue_ != nullptr) return KvKeysOnQueue(request, keys);
  grpc::ClientContext context;
  Prepare(&context);
  auto reader = kv_->ScanKeys(&context, request);
  kvproto::KvStoreScanKeysResponse response;
  while (reader->Read(&response)) keys->push_back(std::move(*response.mutable_key()));
  return StatusFromGrpc(reader->Finish());
}

Status GrpcMembraneClient::KvKeysOnQueue(const kvproto::KvStoreScanKeysRequest& request,
                                         std::vector<std::string>* keys) {
  // The scan is read on the polling thread, one Read started as the last one
  // completes, and the caller is woken once, when the stream has ended. A
  // synchronous reader costs the caller a wake-up for every key instead:
  // gRPC's poller (the queue's thread) reads the stream and hands each
  // message over (bench/RESULTS.md, section 3).
  struct Scan final : CompletionQueueThread::Tag {
    enum Step { kStarted, kReading, kFinished };
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<kvproto::KvStoreScanKeysResponse>> reader;
    kvproto::KvStoreScanKeysResponse response;
    grpc::Status status;
    std::vector<std::string>* keys = nullptr;
    Step step = kStarted;
    std::mutex mu;
    std::condition_variable ended;
    bool done = false;  // guarded by mu

    void OnComplete(bool ok) override {
      if (step == kFinished) {
        // Notified under the lock: the caller, which owns this, cannot
        // return before the notify is done.
        std::lock_guard lock(mu);
        done = true;
        ended.notify_one();
        return;
      }
      if (ok && step == kReading) keys->push_back(std::move(*response.mutable_key()));
      CompletionQueueThread::Starting(this);
      if (ok) {
        step = kReading;
        reader->Read(&response, this);
      } else {  // not started (the membrane is unreachable), or the stream ended
        step = kFinished;
        reader->Finish(&status, this);
      }
    }
  } scan;
  scan.keys = keys;
  Prepare(&scan.context);
  scan.reader = kv_->PrepareAsyncScanKeys(&scan.context, request, queue_->cq());
  CompletionQueueThread::Starting(&scan);
  scan.reader->StartCall(&scan);
  std::unique_lock lock(scan.mu);
  scan.ended.wait(lock, [&scan] { return scan.done; });
  return StatusFromGrpc(scan.status);
}

}  // namespace nitric::host
