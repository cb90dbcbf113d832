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
#include "support/temp_dir.h"

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
  KvServiceTest() = default;
  explicit KvServiceTest(std::filesystem::path data_dir) : fixture_(std::move(data_dir)) {}

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

// The data folder sits three levels down in a private root, so wherever a
// naive join of the KV folder and a hostile name would lead ("../x",
// "../../../x", "a/../../b", an absolute path into the root), the target is
// inside the root, where this test looks.
struct PrivateRoot {
  testing::TempDir root;
};

class KvHostileNamesTest : private PrivateRoot, public KvServiceTest {
 protected:
  KvHostileNamesTest() : KvServiceTest(root.path() / "a" / "b" / "data") {}
  const std::filesystem::path& root_path() const { return root.path(); }
};

TEST_F(KvHostileNamesTest, StoreNamesStayInsideTheKvFolder) {
  const std::filesystem::path kv_folder = fixture_.data_dir() / "kv";
  const std::string absolute = (root_path() / "abs-evil").string();
  const std::vector<std::string> names = {"../evil",   "../../evil", "../../../evil",
                                          "a/../../b", absolute,     ".",
                                          "..",        "sub/dir",    "evil"};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(Set(names[i], "k", R"({"n":)" + std::to_string(i) + "}").ok()) << names[i];
  }
  for (size_t i = 0; i < names.size(); ++i) {
    // Each name is its own store: "../evil" and "evil" do not share a file.
    Struct content;
    EXPECT_TRUE(Get(names[i], "k", &content).ok()) << names[i];
    EXPECT_EQ(content.fields().contains("n") ? content.fields().at("n").number_value() : -1.0,
              static_cast<double>(i))
        << names[i];
    // Where a naive join would have put the database.
    const std::filesystem::path naive = (kv_folder / (names[i] + ".sqlite")).lexically_normal();
    if (naive.parent_path() != kv_folder.lexically_normal()) {
      EXPECT_FALSE(std::filesystem::exists(naive)) << names[i] << " escaped to " << naive;
    }
  }
  // Every file the membrane wrote is directly in the KV folder.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_path())) {
    if (entry.is_directory()) continue;
    EXPECT_EQ(entry.path().parent_path(), kv_folder)
        << "file outside the KV folder: " << entry.path();
  }
}

}  // namespace
}  // namespace nitric::devserver
