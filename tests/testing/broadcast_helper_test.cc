// nitric::Broadcast (plugin.hpp), through tests/testing/plugins/broadcaster.cc
// in the testing kit: which connections it reaches, what it reports, which
// keys it forgets under each Forget option.
#include <nitric/testing.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using nitric::testing::Host;
using Strings = std::vector<std::string>;

// A room of three ("room/a", "room/b", "room/c") and one connection in
// another room: b is gone (NOT_FOUND), c fails otherwise (INTERNAL, as every
// send error on AWS).
class BroadcastHelper : public ::testing::Test {
 protected:
  void Start(const std::string& forget) {
    host_ = std::make_unique<Host>("[plugins.broadcaster]\nforget = \"" + forget + "\"\n");
    auto loaded = host_->Load(BROADCASTER_PLUGIN);
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    for (const char* key : {"room/a", "room/b", "room/c", "other/x"}) {
      ASSERT_TRUE(host_->KvSet("members", key, "{}"));
    }
    host_->FailSendsTo("b", "b", NITRIC_ERR_NOT_FOUND);
    host_->FailSendsTo("b", "c", NITRIC_ERR_INTERNAL);
  }
  // The plugin's report line for the last broadcast.
  std::string Report() const {
    std::string last;
    for (const std::string& line : host_->Logs()) {
      if (line.rfind("[broadcaster] [info] delivered ", 0) == 0) last = line;
    }
    return last.substr(std::string("[broadcaster] [info] ").size());
  }
  std::unique_ptr<Host> host_;
};

TEST_F(BroadcastHelper, ForgetGoneDeletesTheGoneAndKeepsAndReportsTheOtherFailure) {
  Start("gone");
  EXPECT_EQ(host_->Message("b", "a", "room/|hello"), NITRIC_ERR_INTERNAL)
      << "a failed send whose key was kept fails the broadcast";
  EXPECT_EQ(Report(), "delivered 1 failed [b:NOT_FOUND:forgotten,c:INTERNAL:kept]");
  EXPECT_EQ(host_->Sent("b", "a"), Strings{"hello"});
  EXPECT_TRUE(host_->Sent("b", "x").empty()) << "x is not under the prefix";
  EXPECT_EQ(host_->KvKeys("members"), (Strings{"other/x", "room/a", "room/c"}));
}

TEST_F(BroadcastHelper, ForgetFailedDeletesEveryFailedConnectionAndSucceeds) {
  Start("failed");
  EXPECT_EQ(host_->Message("b", "a", "room/|hello"), NITRIC_OK);
  EXPECT_EQ(Report(), "delivered 1 failed [b:NOT_FOUND:forgotten,c:INTERNAL:forgotten]");
  EXPECT_EQ(host_->KvKeys("members"), (Strings{"other/x", "room/a"}));
}

TEST_F(BroadcastHelper, ForgetNoneKeepsEveryKeyAndFailsWithTheFirstFailure) {
  Start("none");
  EXPECT_EQ(host_->Message("b", "a", "room/|hello"), NITRIC_ERR_NOT_FOUND);
  EXPECT_EQ(Report(), "delivered 1 failed [b:NOT_FOUND:kept,c:INTERNAL:kept]");
  EXPECT_EQ(host_->Sent("b", "a"), Strings{"hello"});
  EXPECT_EQ(host_->KvKeys("members"), (Strings{"other/x", "room/a", "room/b", "room/c"}));
}

TEST_F(BroadcastHelper, WithAnEmptyPrefixEveryKeyIsAConnectionId) {
  Start("gone");
  for (const std::string& key : host_->KvKeys("members")) host_->KvDelete("members", key);
  for (const char* id : {"a", "b", "d"}) ASSERT_TRUE(host_->KvSet("members", id, "{}"));
  EXPECT_EQ(host_->Message("b", "a", "|hi"), NITRIC_OK);
  EXPECT_EQ(Report(), "delivered 2 failed [b:NOT_FOUND:forgotten]");
  EXPECT_EQ(host_->Sent("b", "a"), Strings{"hi"});
  EXPECT_EQ(host_->Sent("b", "d"), Strings{"hi"});
  EXPECT_EQ(host_->KvKeys("members"), (Strings{"a", "d"}));
}

TEST_F(BroadcastHelper, AScanThatCannotStartSendsNothingAndFailsWithItsError) {
  Start("failed");
  host_->SetMembraneDown(true);
  EXPECT_EQ(host_->Message("b", "a", "room/|hello"), NITRIC_ERR_UNAVAILABLE);
  EXPECT_EQ(Report(), "delivered 0 failed []");
  EXPECT_EQ(host_->KvKeys("members").size(), 4u);
}

}  // namespace
