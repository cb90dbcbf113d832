// Fuzz target: requests to the dev membrane's KV service (devserver/
// kv_service.h) as a plugin's host sends them, through a real gRPC server
// (in-process channel) over real SQLite stores in a temporary folder.
//
// Input: the first byte picks the method (GetValue, SetValue, DeleteKey,
// ScanKeys), the rest are the request's wire bytes. Bytes that do not parse
// as that request go to the server as they are (it must refuse them
// cleanly); requests that parse are sent with the store name mapped onto a
// few fixed stores, so a run does not open thousands of database files, and
// the name as sent is checked against KvStores::FileNameFor's contract
// (a file name inside the folder). Every call must end with a status.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "devserver/cq_poller.h"
#include "devserver/kv_service.h"
#include "devserver/kv_store.h"

namespace ds = nitric::devserver;
namespace kv = ::nitric::proto::kvstore::v1;

namespace {

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<ds::KvStores> stores;
  std::unique_ptr<ds::KvService> service;
  ds::CqPoller poller;  // serves the service's calls, as in the dev membrane
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<kv::KvStore::Stub> stub;
  std::unique_ptr<grpc::GenericStub> generic;
};

Fixture* fixture = nullptr;

// The fixture lives for the whole run (libFuzzer exits without unwinding);
// the folder is removed at exit.
void RemoveFolder() {
  std::error_code ec;
  if (fixture != nullptr) std::filesystem::remove_all(fixture->dir, ec);
}

void CheckFileName(const std::string& store) {
  const std::string file = ds::KvStores::FileNameFor(store);
  if (file.empty() || file.find('/') != std::string::npos || file.find('\0') != std::string::npos ||
      file[0] == '.' || file.size() > 255) {
    std::abort();
  }
}

std::string MapStore(const std::string& store) {
  CheckFileName(store);
  if (store.empty()) return store;  // refused before any store is opened
  return "store" + std::to_string(static_cast<unsigned char>(store[0]) % 4);
}

grpc::Status SendRaw(const char* method, const uint8_t* data, size_t size) {
  grpc::Slice slice(data, size);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  std::promise<grpc::Status> done;
  fixture->generic->UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                              [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  fixture = new Fixture;
  char templ[] = "/tmp/nitric-kv-fuzz-XXXXXX";
  if (mkdtemp(templ) == nullptr) std::abort();
  fixture->dir = templ;
  std::atexit(RemoveFolder);
  fixture->stores = std::make_unique<ds::KvStores>(fixture->dir);
  if (!fixture->stores->Open().ok()) std::abort();
  fixture->service = std::make_unique<ds::KvService>(*fixture->stores);
  grpc::ServerBuilder builder;
  fixture->poller.AddTo(builder);
  builder.RegisterService(fixture->service.get());
  fixture->server = builder.BuildAndStart();
  if (!fixture->server) std::abort();
  fixture->poller.Start();
  fixture->service->Start(fixture->poller);
  auto channel = fixture->server->InProcessChannel(grpc::ChannelArguments());
  fixture->stub = kv::KvStore::NewStub(channel);
  fixture->generic = std::make_unique<grpc::GenericStub>(channel);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int method = data[0] % 4;
  ++data;
  --size;
  grpc::ClientContext context;
  switch (method) {
    case 0: {
      kv::KvStoreGetValueRequest request;
      if (!request.ParseFromArray(data, static_cast<int>(size))) {
        SendRaw("/nitric.proto.kvstore.v1.KvStore/GetValue", data, size);
        return 0;
      }
      request.mutable_ref()->set_store(MapStore(request.ref().store()));
      kv::KvStoreGetValueResponse response;
      (void)fixture->stub->GetValue(&context, request, &response);
      return 0;
    }
    case 1: {
      kv::KvStoreSetValueRequest request;
      if (!request.ParseFromArray(data, static_cast<int>(size))) {
        SendRaw("/nitric.proto.kvstore.v1.KvStore/SetValue", data, size);
        return 0;
      }
      request.mutable_ref()->set_store(MapStore(request.ref().store()));
      kv::KvStoreSetValueResponse response;
      const grpc::Status s = fixture->stub->SetValue(&context, request, &response);
      if (s.ok()) {
        // What was stored reads back.
        grpc::ClientContext get_context;
        kv::KvStoreGetValueRequest get;
        *get.mutable_ref() = request.ref();
        kv::KvStoreGetValueResponse got;
        if (!fixture->stub->GetValue(&get_context, get, &got).ok()) std::abort();
      }
      return 0;
    }
    case 2: {
      kv::KvStoreDeleteKeyRequest request;
      if (!request.ParseFromArray(data, static_cast<int>(size))) {
        SendRaw("/nitric.proto.kvstore.v1.KvStore/DeleteKey", data, size);
        return 0;
      }
      request.mutable_ref()->set_store(MapStore(request.ref().store()));
      kv::KvStoreDeleteKeyResponse response;
      (void)fixture->stub->DeleteKey(&context, request, &response);
      return 0;
    }
    default: {
      kv::KvStoreScanKeysRequest request;
      if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
      request.mutable_store()->set_name(MapStore(request.store().name()));
      auto reader = fixture->stub->ScanKeys(&context, request);
      kv::KvStoreScanKeysResponse key;
      while (reader->Read(&key)) {
        if (!key.key().starts_with(request.prefix())) std::abort();
      }
      (void)reader->Finish();
      return 0;
    }
  }
}
