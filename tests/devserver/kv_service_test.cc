// The KvStore gRPC service of the dev membrane, through the generated stub over
// loopback: values, errors, prefix scans, persistence across a restart.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "support/membrane_fixture.h"

namespace nitric::devserver {
namespace {

namespace kv = ::nitric::proto::kvstore::v1;
using google::protobuf::Struct;
using Keys = std::vector<std::string>;

Struct MakeStruct(const std::string& json) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

class KvServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Connect()); }

  void Connect() {
    ASSERT_NO_FATAL_FAILURE(fixture_.Start());
    stub_ = kv::KvStore::NewStub(fixture_.channel());
  }

  grpc::Status Set(const std::string& store, const std::string& key, const std::string& json) {
    kv::KvStoreSetValueRequest req;
    req.mutable_ref()->set_store(store);
    req.mutable_ref()->set_key(key);
    *req.mutable_content() = MakeStruct(json);
    kv::KvStoreSetValueResponse resp;
    grpc::ClientContext ctx;
    return stub_->SetValue(&ctx, req, &resp);
  }

  grpc::Status Get(const std::string& store, const std::string& key, Struct* content = nullptr) {
    kv::KvStoreGetValueRequest req;
    req.mutable_ref()->set_store(store);
    req.mutable_ref()->set_key(key);
    kv::KvStoreGetValueResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->GetValue(&ctx, req, &resp);
    if (s.ok()) {
      EXPECT_EQ(resp.value().ref().store(), store);
      EXPECT_EQ(resp.value().ref().key(), key);
      if (content) *content = resp.value().content();
    }
    return s;
  }

  grpc::Status Delete(const std::string& store, const std::string& key) {
    kv::KvStoreDeleteKeyRequest req;
    req.mutable_ref()->set_store(store);
    req.mutable_ref()->set_key(key);
    kv::KvStoreDeleteKeyResponse resp;
    grpc::ClientContext ctx;
    return stub_->DeleteKey(&ctx, req, &resp);
  }

  grpc::Status Scan(const std::string& store, const std::string& prefix, Keys* keys) {
    kv::KvStoreScanKeysRequest req;
    req.mutable_store()->set_name(store);
    req.set_prefix(prefix);
    grpc::ClientContext ctx;
    auto reader = stub_->ScanKeys(&ctx, req);
    kv::KvStoreScanKeysResponse resp;
    while (reader->Read(&resp)) keys->push_back(resp.key());
    return reader->Finish();
  }

  Keys ScanSorted(const std::string& store, const std::string& prefix) {
    Keys keys;
    grpc::Status s = Scan(store, prefix, &keys);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  testing::MembraneFixture fixture_;
  std::unique_ptr<kv::KvStore::Stub> stub_;
};

TEST_F(KvServiceTest, GetReturnsTheStructThatWasSet) {
  const std::string json =
      R"({"name":"ada","age":36,"admin":true,"tags":["x","y"],"nested":{"n":null,"f":1.5}})";
  ASSERT_TRUE(Set("people", "ada", json).ok());

  Struct content;
  ASSERT_TRUE(Get("people", "ada", &content).ok());

  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(content, MakeStruct(json)))
      << content.ShortDebugString();
}

TEST_F(KvServiceTest, SetReplacesTheValue) {
  ASSERT_TRUE(Set("s", "k", R"({"v":1})").ok());
  ASSERT_TRUE(Set("s", "k", R"({"v":2})").ok());
  Struct content;
  ASSERT_TRUE(Get("s", "k", &content).ok());
  EXPECT_EQ(content.fields().at("v").number_value(), 2);
}

TEST_F(KvServiceTest, GetOfAMissingKeyIsNotFound) {
  EXPECT_EQ(Get("s", "nope").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KvServiceTest, DeleteRemovesTheKeyAndDeletingAMissingKeySucceeds) {
  ASSERT_TRUE(Set("s", "k", "{}").ok());
  EXPECT_TRUE(Delete("s", "k").ok());
  EXPECT_EQ(Get("s", "k").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Delete("s", "k").ok());
  EXPECT_TRUE(Delete("never-used", "k").ok());
}

TEST_F(KvServiceTest, ScanKeysStreamsTheKeysWithThePrefix) {
  for (const char* key : {"user:1", "user:2", "users", "order:1", "u"}) {
    ASSERT_TRUE(Set("s", key, "{}").ok());
  }
  EXPECT_EQ(ScanSorted("s", "user:"), (Keys{"user:1", "user:2"}));
  EXPECT_EQ(ScanSorted("s", "user"), (Keys{"user:1", "user:2", "users"}));
  EXPECT_EQ(ScanSorted("s", ""), (Keys{"order:1", "u", "user:1", "user:2", "users"}));
  EXPECT_TRUE(ScanSorted("s", "x").empty());
  EXPECT_TRUE(ScanSorted("empty-store", "").empty());
}

TEST_F(KvServiceTest, PercentAndUnderscoreInAPrefixAreNotWildcards) {
  for (const char* key : {"50%off", "50xoff", "500", "a_b", "axb", "a_", "%", "_"}) {
    ASSERT_TRUE(Set("s", key, "{}").ok());
  }
  EXPECT_EQ(ScanSorted("s", "50%"), (Keys{"50%off"}));
  EXPECT_EQ(ScanSorted("s", "a_"), (Keys{"a_", "a_b"}));
  EXPECT_EQ(ScanSorted("s", "%"), (Keys{"%"}));
  EXPECT_EQ(ScanSorted("s", "_"), (Keys{"_"}));
}

TEST_F(KvServiceTest, ManyKeysAreAllStreamed) {
  for (int i = 0; i < 300; ++i) {
    std::string key = "k";
    key += std::to_string(i);
    ASSERT_TRUE(Set("bulk", key, "{}").ok());
  }
  EXPECT_EQ(ScanSorted("bulk", "k").size(), 300u);
}

TEST_F(KvServiceTest, MissingRefEmptyStoreOrEmptyKeyIsInvalidArgument) {
  const auto invalid = grpc::StatusCode::INVALID_ARGUMENT;
  EXPECT_EQ(Set("", "k", "{}").error_code(), invalid);
  EXPECT_EQ(Set("s", "", "{}").error_code(), invalid);
  EXPECT_EQ(Get("", "k").error_code(), invalid);
  EXPECT_EQ(Get("s", "").error_code(), invalid);
  EXPECT_EQ(Delete("", "k").error_code(), invalid);
  EXPECT_EQ(Delete("s", "").error_code(), invalid);

  grpc::ClientContext get_ctx;
  kv::KvStoreGetValueResponse get_resp;
  EXPECT_EQ(stub_->GetValue(&get_ctx, kv::KvStoreGetValueRequest(), &get_resp).error_code(),
            invalid);
  grpc::ClientContext set_ctx;
  kv::KvStoreSetValueResponse set_resp;
  EXPECT_EQ(stub_->SetValue(&set_ctx, kv::KvStoreSetValueRequest(), &set_resp).error_code(),
            invalid);
  grpc::ClientContext del_ctx;
  kv::KvStoreDeleteKeyResponse del_resp;
  EXPECT_EQ(stub_->DeleteKey(&del_ctx, kv::KvStoreDeleteKeyRequest(), &del_resp).error_code(),
            invalid);

  Keys keys;
  EXPECT_EQ(Scan("", "", &keys).error_code(), invalid);
  grpc::ClientContext scan_ctx;
  auto reader = stub_->ScanKeys(&scan_ctx, kv::KvStoreScanKeysRequest());
  kv::KvStoreScanKeysResponse ignored;
  while (reader->Read(&ignored)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), invalid);
}

TEST_F(KvServiceTest, DataSurvivesAMembraneRestartOnTheSameFolder) {
  ASSERT_TRUE(Set("connections", "c1", R"({"since":1})").ok());
  ASSERT_TRUE(Set("connections", "c2", R"({"since":2})").ok());
  ASSERT_TRUE(Delete("connections", "c2").ok());

  ASSERT_NO_FATAL_FAILURE(fixture_.Stop());
  ASSERT_NO_FATAL_FAILURE(Connect());

  Struct content;
  ASSERT_TRUE(Get("connections", "c1", &content).ok());
  EXPECT_EQ(content.fields().at("since").number_value(), 1);
  EXPECT_EQ(Get("connections", "c2").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ScanSorted("connections", ""), (Keys{"c1"}));
}

TEST_F(KvServiceTest, HostileStoreNamesStayInsideTheDataFolder) {
  for (const char* name : {"../evil", "../../evil", "/tmp/evil", ".", "..", "a/../../b"}) {
    ASSERT_TRUE(Set(name, "k", R"({"x":1})").ok()) << name;
    ASSERT_TRUE(Get(name, "k").ok()) << name;
  }
  // Everything the membrane wrote is below the data folder: its parent (the
  // test's private temp dir) holds nothing else.
  std::filesystem::path root = fixture_.data_dir().parent_path();
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    EXPECT_EQ(entry.path(), fixture_.data_dir()) << "unexpected file " << entry.path();
  }
  for (const auto& entry : std::filesystem::recursive_directory_iterator(fixture_.data_dir())) {
    EXPECT_EQ(entry.path().filename().string().find(".."), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace nitric::devserver
