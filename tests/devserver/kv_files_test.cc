// The dev membrane's KV files on disk (docs/PROTOCOL.md#dev-gateway): private to
// the user (0600 files in 0700 folders, whatever the umask), and a corrupt
// store file costs only that store, with an error naming the file. Through
// the real KvStore gRPC service of a real DevMembrane.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <google/protobuf/struct.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "support/membrane_fixture.h"
#include "support/temp_dir.h"

namespace nitric::devserver {
namespace {

namespace kv = ::nitric::proto::kvstore::v1;

mode_t ModeOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << " is missing";
  return st.st_mode & 07777;
}

// Sets the process umask for the test's duration (the usual 022, under which
// files would be 0644 and folders 0755 without explicit modes).
class Umask {
 public:
  explicit Umask(mode_t mask) : previous_(::umask(mask)) {}
  ~Umask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

class KvFilesTest : public ::testing::Test {
 protected:
  void Start() {
    ASSERT_NO_FATAL_FAILURE(fixture_.Start());
    stub_ = kv::KvStore::NewStub(fixture_.channel());
  }

  grpc::Status Set(const std::string& store, const std::string& key) {
    kv::KvStoreSetValueRequest req;
    req.mutable_ref()->set_store(store);
    req.mutable_ref()->set_key(key);
    (*req.mutable_content()->mutable_fields())["n"].set_number_value(1);
    kv::KvStoreSetValueResponse resp;
    grpc::ClientContext ctx;
    return stub_->SetValue(&ctx, req, &resp);
  }

  grpc::Status Get(const std::string& store, const std::string& key) {
    kv::KvStoreGetValueRequest req;
    req.mutable_ref()->set_store(store);
    req.mutable_ref()->set_key(key);
    kv::KvStoreGetValueResponse resp;
    grpc::ClientContext ctx;
    return stub_->GetValue(&ctx, req, &resp);
  }

  Umask umask_{022};
  testing::TempDir root_;
  const std::filesystem::path data_ = root_.path() / "data";
  const std::filesystem::path kv_ = data_ / "kv";
  testing::MembraneFixture fixture_{data_};
  std::unique_ptr<kv::KvStore::Stub> stub_;
};

TEST_F(KvFilesTest, StoreFilesAre0600InA0700Folder) {
  ASSERT_NO_FATAL_FAILURE(Start());

  ASSERT_TRUE(Set("orders", "o1").ok());

  EXPECT_EQ(ModeOf(data_), 0700u);
  EXPECT_EQ(ModeOf(kv_), 0700u);
  EXPECT_EQ(ModeOf(kv_ / "orders.sqlite"), 0600u);
  // WAL mode: both exist while the store is open.
  EXPECT_EQ(ModeOf(kv_ / "orders.sqlite-wal"), 0600u);
  EXPECT_EQ(ModeOf(kv_ / "orders.sqlite-shm"), 0600u);
}

TEST_F(KvFilesTest, FilesAndTheKvFolderLeftReadableByAnOlderMembraneAreTightened) {
  std::filesystem::create_directories(kv_);
  ::chmod(kv_.c_str(), 0755);
  std::ofstream(kv_ / "old.sqlite").close();  // an empty file is an empty database
  ::chmod((kv_ / "old.sqlite").c_str(), 0644);
  ASSERT_NO_FATAL_FAILURE(Start());

  ASSERT_TRUE(Set("old", "k").ok());

  EXPECT_EQ(ModeOf(kv_), 0700u);
  EXPECT_EQ(ModeOf(kv_ / "old.sqlite"), 0600u);
  EXPECT_EQ(ModeOf(kv_ / "old.sqlite-wal"), 0600u);
}

TEST_F(KvFilesTest, ACorruptStoreFileFailsThatStoreOnlyWithAnErrorNamingTheFile) {
  std::filesystem::create_directories(kv_);
  const auto corrupt = kv_ / "broken.sqlite";
  {
    std::ofstream out(corrupt, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a SQLite database. ";
  }
  ASSERT_NO_FATAL_FAILURE(Start());

  const grpc::Status set = Set("broken", "k");
  const grpc::Status get = Get("broken", "k");
  const grpc::Status other = Set("fine", "k");

  EXPECT_EQ(set.error_code(), grpc::StatusCode::DATA_LOSS) << set.error_message();
  EXPECT_NE(set.error_message().find("KV store 'broken'"), std::string::npos)
      << set.error_message();
  EXPECT_NE(set.error_message().find(corrupt.string() + " is corrupt or not a SQLite database"),
            std::string::npos)
      << set.error_message();
  EXPECT_NE(set.error_message().find("move it away"), std::string::npos) << set.error_message();
  EXPECT_EQ(get.error_code(), grpc::StatusCode::DATA_LOSS) << get.error_message();
  EXPECT_TRUE(other.ok()) << other.error_message();
  EXPECT_TRUE(Get("fine", "k").ok());

  // Moving the file away, as the message says, brings the store back empty.
  std::filesystem::rename(corrupt, kv_ / "broken.sqlite.bad");
  EXPECT_TRUE(Set("broken", "k").ok());
  EXPECT_TRUE(Get("broken", "k").ok());
}

}  // namespace
}  // namespace nitric::devserver
