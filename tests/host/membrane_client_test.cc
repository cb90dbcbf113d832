// GrpcMembraneClient's key scan (host/membrane/grpc_membrane_client.cc)
// against a real KvStore service on 127.0.0.1: with a completion queue the
// stream is read on the queue's thread and the caller woken once; without
// one it is read synchronously. Both must give the same keys and errors.
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "host/membrane/channel.h"
#include "host/membrane/completion_queue_thread.h"
#include "host/membrane/grpc_membrane_client.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"

namespace {

using namespace std::chrono_literals;
namespace kv = ::nitric::proto::kvstore::v1;
using nitric::host::CompletionQueueThread;
using nitric::host::GrpcMembraneClient;
using nitric::host::Status;

// ScanKeys streams `keys` (those with the request's prefix), then ends with
// `end`; with `hang`, it stops after the first key until the call is
// cancelled (the client's deadline).
class ScriptedKv final : public kv::KvStore::Service {
 public:
  std::vector<std::string> keys;
  grpc::Status end = grpc::Status::OK;
  bool hang = false;

  std::vector<std::string> service_names() const {
    std::lock_guard lock(mu_);
    return service_names_;
  }

  grpc::Status ScanKeys(grpc::ServerContext* context, const kv::KvStoreScanKeysRequest* request,
                        grpc::ServerWriter<kv::KvStoreScanKeysResponse>* writer) override {
    {
      std::lock_guard lock(mu_);
      auto it = context->client_metadata().find("x-nitric-service-name");
      service_names_.emplace_back(it == context->client_metadata().end()
                                      ? "(none)"
                                      : std::string(it->second.data(), it->second.size()));
    }
    if (request->store().name() != "connections") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such store");
    }
    kv::KvStoreScanKeysResponse response;
    for (const std::string& key : keys) {
      if (key.rfind(request->prefix(), 0) != 0) continue;
      response.set_key(key);
      if (!writer->Write(response)) return grpc::Status::CANCELLED;
      if (hang) {
        while (!context->IsCancelled()) std::this_thread::sleep_for(5ms);
        return grpc::Status::CANCELLED;
      }
    }
    return end;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> service_names_;
};

class MembraneClientScan : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&kv_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    client_.reset();
    queue_.Shutdown();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 5s);
  }

  // The client under test: on the queue when the test's parameter says so.
  GrpcMembraneClient& Client(std::chrono::milliseconds timeout = 10s, int port = 0) {
    auto channel =
        nitric::host::OpenMembraneChannel(fmt::format("127.0.0.1:{}", port ? port : port_));
    client_ = std::make_unique<GrpcMembraneClient>(channel, "chat", timeout,
                                                   GetParam() ? &queue_ : nullptr);
    return *client_;
  }

  ScriptedKv kv_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  CompletionQueueThread queue_{"test-cq"};
  std::unique_ptr<GrpcMembraneClient> client_;
};

TEST_P(MembraneClientScan, ReadsEveryKeyOfALongScanInOrder) {
  std::vector<std::string> want;
  for (int i = 0; i < 2000; ++i) kv_.keys.push_back(fmt::format("user-{:04}", i));
  kv_.keys.push_back("other");
  want.assign(kv_.keys.begin(), kv_.keys.end() - 1);

  std::vector<std::string> keys{"left over"};
  Status status = Client().KvKeys("connections", "user-", &keys);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(keys, want);
  EXPECT_EQ(kv_.service_names(), std::vector<std::string>{"chat"});

  // An empty scan, on the same client.
  status = client_->KvKeys("connections", "nobody-", &keys);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(keys.empty());
}

TEST_P(MembraneClientScan, AScanThatFailsMidStreamFailsWithTheMembranesError) {
  kv_.keys = {"a", "b", "c"};
  kv_.end = grpc::Status(grpc::StatusCode::INTERNAL, "disk on fire");
  std::vector<std::string> keys;
  Status status = Client().KvKeys("connections", "", &keys);
  EXPECT_EQ(status.code(), NITRIC_ERR_INTERNAL);
  EXPECT_NE(status.message().find("disk on fire"), std::string::npos) << status.message();

  status = client_->KvKeys("elsewhere", "", &keys);
  EXPECT_EQ(status.code(), NITRIC_ERR_NOT_FOUND) << status.message();
}

TEST_P(MembraneClientScan, AScanTheMembraneNeverEndsFailsAtTheDeadline) {
  kv_.keys = {"a", "b"};
  kv_.hang = true;
  std::vector<std::string> keys;
  Status status = Client(300ms).KvKeys("connections", "", &keys);
  EXPECT_EQ(status.code(), NITRIC_ERR_UNAVAILABLE) << status.message();
  EXPECT_NE(status.message().find("gRPC code 4"), std::string::npos) << status.message();
}

TEST_P(MembraneClientScan, AnUnreachableMembraneFailsTheScan) {
  // A port nothing listens on: this test's server, stopped.
  const int port = port_;
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  std::vector<std::string> keys;
  Status status = Client(10s, port).KvKeys("connections", "", &keys);
  EXPECT_EQ(status.code(), NITRIC_ERR_UNAVAILABLE) << status.message();
}

INSTANTIATE_TEST_SUITE_P(OnTheQueueAndSynchronous, MembraneClientScan, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("OnTheQueue")
                                             : std::string("Synchronous");
                         });

// A scan from the thread that polls the queue (an inline handler's KV call)
// cannot wait for its own completions there: it hands the polling on first,
// and another thread reads the stream.
class ScanOnThePollingThread final : public CompletionQueueThread::Tag {
 public:
  explicit ScanOnThePollingThread(GrpcMembraneClient* client) : client_(client) {}
  void OnComplete(bool) override {
    std::vector<std::string> keys;
    Status status = client_->KvKeys("connections", "", &keys);
    result_.set_value(status.ok() ? keys : std::vector<std::string>{status.message()});
  }
  std::future<std::vector<std::string>> result() { return result_.get_future(); }

 private:
  GrpcMembraneClient* const client_;
  std::promise<std::vector<std::string>> result_;
};

TEST(MembraneClientScanInline, AScanFromThePollingThreadHandsThePollingOn) {
  ScriptedKv kv;
  kv.keys = {"a", "b", "c"};
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&kv);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  CompletionQueueThread queue("test-cq");
  {
    GrpcMembraneClient client(nitric::host::OpenMembraneChannel(fmt::format("127.0.0.1:{}", port)),
                              "chat", 10s, &queue);
    ScanOnThePollingThread scan(&client);
    auto result = scan.result();
    grpc::Alarm alarm;
    CompletionQueueThread::Starting(&scan);
    alarm.Set(queue.cq(), std::chrono::system_clock::now(),
              static_cast<CompletionQueueThread::Tag*>(&scan));
    ASSERT_EQ(result.wait_for(30s), std::future_status::ready)
        << "the scan never completed: its completions wait for the thread it blocks";
    EXPECT_EQ(result.get(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(queue.threads(), 2);  // the polling passed to a second thread
  }
  queue.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + 5s);
}

}  // namespace
