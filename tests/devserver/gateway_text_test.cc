// The gateway's text helpers: UTF-8 validation (text vs binary frames) and
// query parameter parsing (Connect events).
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "devserver/gateway_query.h"
#include "devserver/gateway_utf8.h"

namespace nitric::devserver {
namespace {

TEST(GatewayUtf8, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii, long enough to take the eight-byte path"));
  EXPECT_TRUE(IsValidUtf8("h\u00e9llo \u2713 \U0001F600"));
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));          // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(GatewayUtf8, RejectsMalformedSequences) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // overlong, 4 bytes
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // U+D800, a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("abcdefgh\xE2\x9C"));  // cut short at the end
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));      // bad continuation
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  EXPECT_FALSE(IsValidUtf8(all_bytes));
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(GatewayQuery, KeepsRepeatedKeysInArrivalOrderAndDecodes) {
  EXPECT_EQ(ParseQueryParams("/?a=1&b=x%20y&a=2&c=p+q&d=%E2%9C%93"),
            (Pairs{{"a", "1"}, {"b", "x y"}, {"a", "2"}, {"c", "p q"}, {"d", "\u2713"}}));
}

TEST(GatewayQuery, HandlesMissingValuesEmptySegmentsAndFragments) {
  EXPECT_EQ(ParseQueryParams("/"), Pairs{});
  EXPECT_EQ(ParseQueryParams("/?"), Pairs{});
  EXPECT_EQ(ParseQueryParams("/chat?flag&&x=&=v#frag"),
            (Pairs{{"flag", ""}, {"x", ""}, {"", "v"}}));
  EXPECT_EQ(ParseQueryParams("/?a=b=c"), (Pairs{{"a", "b=c"}}));
  EXPECT_EQ(ParseQueryParams("/?k%3D=%26"), (Pairs{{"k=", "&"}}));
}

TEST(GatewayQuery, DropsPairsWithMalformedEscapes) {
  EXPECT_EQ(ParseQueryParams("/?a=%&b=%4&c=%zz&d=ok&e%=1"), (Pairs{{"d", "ok"}}));
}

}  // namespace
}  // namespace nitric::devserver
