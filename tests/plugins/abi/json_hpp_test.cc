// nitric/json.hpp on its own: the codec compiles without plugin.hpp (this
// file includes nothing else of the plugin API), so a tool or test that only
// needs KV values can use it. The codec's behaviour is specified in
// plugin_hpp_test.cc through plugin.hpp, which includes this header.
#include <nitric/json.hpp>

#include <gtest/gtest.h>

namespace {

TEST(JsonHpp, StandsAloneAndRoundTripsAFlatObject) {
  const nitric::Object written{{"connectionId", "c-1"}, {"n", 3}, {"ok", true}};
  nitric::Result<nitric::Object> read = nitric::Object::Parse(written.ToJson());
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(*read, written);
}

TEST(JsonHpp, ReportsWhereTextStopsBeingAnObject) {
  nitric::Result<nitric::Object> read = nitric::Object::Parse(R"({"a":1,})");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(read.error().message().find("offset 7"), std::string::npos) << read.error().message();
}

}  // namespace
