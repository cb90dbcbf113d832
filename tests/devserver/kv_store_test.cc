// KvStore / KvStores on disk: SQLite files per store, safe file names, prefix
// scans without wildcards, persistence across a close.
#include "devserver/kv_store.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace nitric::devserver {
namespace {

using Keys = std::vector<std::string>;

class KvStoresTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(stores_.Open().ok()); }

  KvStore* Store(const std::string& name) {
    KvStore* store = nullptr;
    grpc::Status s = stores_.Get(name, &store);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return store;
  }

  Keys Scan(KvStore* store, const std::string& prefix) {
    Keys keys;
    EXPECT_TRUE(store->ScanKeys(prefix, &keys).ok());
    return keys;
  }

  testing::TempDir dir_;
  KvStores stores_{dir_.path()};
};

TEST(KvStoreFileName, PlainNamesAreKept) {
  EXPECT_EQ(KvStores::FileNameFor("connections"), "connections.sqlite");
  EXPECT_EQ(KvStores::FileNameFor("a-b_c.d9"), "a-b_c.d9.sqlite");
}

TEST(KvStoreFileName, OtherNamesAreHexEncodedAndCannotCollideWithPlainOnes) {
  EXPECT_EQ(KvStores::FileNameFor("../evil"), "~2e2e2f6576696c.sqlite");
  EXPECT_EQ(KvStores::FileNameFor(".hidden"), "~2e68696464656e.sqlite");
  EXPECT_EQ(KvStores::FileNameFor("a/b"), "~612f62.sqlite");
  EXPECT_EQ(KvStores::FileNameFor("with space"), "~77697468207370616365.sqlite");
  // A plain name that happens to be the hex of another is still distinct.
  EXPECT_NE(KvStores::FileNameFor("2e2e2f6576696c"), KvStores::FileNameFor("../evil"));
}

TEST(KvStoreFileName, VeryLongNamesStayShortAndDistinct) {
  std::string a(1000, 'a'), b = a;
  b.back() = 'b';
  std::string fa = KvStores::FileNameFor(a), fb = KvStores::FileNameFor(b);
  EXPECT_LT(fa.size(), 255u);
  EXPECT_NE(fa, fb);
  EXPECT_EQ(fa.find('/'), std::string::npos);
}

TEST_F(KvStoresTest, SetGetDelete) {
  KvStore* store = Store("s");
  ASSERT_TRUE(store->Set("k", R"({"a":1})").ok());
  std::string json;
  ASSERT_TRUE(store->Get("k", &json).ok());
  EXPECT_EQ(json, R"({"a":1})");

  ASSERT_TRUE(store->Delete("k").ok());
  EXPECT_EQ(store->Get("k", &json).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(store->Delete("k").ok()) << "deleting a missing key succeeds";
}

TEST_F(KvStoresTest, EmptyStoreNameIsInvalid) {
  KvStore* store = nullptr;
  EXPECT_EQ(stores_.Get("", &store).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KvStoresTest, ScanMatchesPrefixLiterallyWithoutWildcards) {
  KvStore* store = Store("s");
  for (const char* key : {"a%b", "a%c", "axb", "a_b", "acb", "a", "b", "100%", "1000"}) {
    ASSERT_TRUE(store->Set(key, "{}").ok());
  }

  EXPECT_EQ(Scan(store, "a%"), (Keys{"a%b", "a%c"}));
  EXPECT_EQ(Scan(store, "a_"), (Keys{"a_b"}));
  EXPECT_EQ(Scan(store, "100%"), (Keys{"100%"}));
  EXPECT_EQ(Scan(store, "a"), (Keys{"a", "a%b", "a%c", "a_b", "acb", "axb"}));
  EXPECT_EQ(Scan(store, "").size(), 9u);
  EXPECT_TRUE(Scan(store, "zz").empty());
}

TEST_F(KvStoresTest, ScanHandlesPrefixesEndingInHighBytes) {
  KvStore* store = Store("s");
  for (const char* key : {"a\xff", "a\xff\x01", "b"}) ASSERT_TRUE(store->Set(key, "{}").ok());

  EXPECT_EQ(Scan(store, "a\xff"), (Keys{"a\xff", "a\xff\x01"}));
  EXPECT_EQ(Scan(store, "\xff").size(), 0u);
}

TEST_F(KvStoresTest, StoresAreSeparate) {
  ASSERT_TRUE(Store("one")->Set("k", R"({"n":1})").ok());
  std::string json;
  EXPECT_EQ(Store("two")->Get("k", &json).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KvStoresTest, DataSurvivesCloseAndReopen) {
  ASSERT_TRUE(Store("orders")->Set("o1", R"({"qty":3})").ok());
  stores_.Close();

  KvStores reopened(dir_.path());
  ASSERT_TRUE(reopened.Open().ok());
  KvStore* store = nullptr;
  ASSERT_TRUE(reopened.Get("orders", &store).ok());
  std::string json;
  ASSERT_TRUE(store->Get("o1", &json).ok());
  EXPECT_EQ(json, R"({"qty":3})");
}

TEST_F(KvStoresTest, ClosedStoresAnswerUnavailable) {
  KvStore* store = Store("s");
  stores_.Close();
  std::string json;
  EXPECT_EQ(store->Get("k", &json).error_code(), grpc::StatusCode::UNAVAILABLE);
  KvStore* other = nullptr;
  EXPECT_EQ(stores_.Get("t", &other).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(KvStoresTest, HostileStoreNameStaysInsideTheFolder) {
  KvStore* store = Store("../evil");
  ASSERT_TRUE(store->Set("k", "{}").ok());

  std::filesystem::path file = store->file();
  EXPECT_EQ(file.parent_path(), stores_.folder());
  EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "evil.sqlite"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "evil"));
}

TEST_F(KvStoresTest, CloseFoldsTheWalIntoTheDatabaseFile) {
  KvStore* store = Store("s");
  ASSERT_TRUE(store->Set("k", "{}").ok());
  std::filesystem::path wal = store->file().string() + "-wal";
  stores_.Close();

  EXPECT_TRUE(!std::filesystem::exists(wal) || std::filesystem::file_size(wal) == 0);
}

}  // namespace
}  // namespace nitric::devserver
