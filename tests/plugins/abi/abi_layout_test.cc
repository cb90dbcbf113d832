// The C++ translation unit of the ABI layout test. Compiling this file and
// abi_layout_c.c is most of the test: abi_layout.h's static_asserts pin the
// offset and size of every field for each language. At run time the test
// checks that the C and the C++ compiler agree row by row (a plugin in one
// language and the host in the other must see one layout), and that both
// languages get the same names from plugin.h's name helpers.
#include <cstring>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include "abi_layout.h"
#include "abi_layout_c.h"

namespace {

struct Row {
  const char* name;
  size_t offset;
  size_t size;
};

// ABI 1.1's ownership names are aliases: code written with the old names
// keeps compiling, and both spell one type.
static_assert(std::is_same_v<nitric_plugin_str, nitric_str>);
static_assert(std::is_same_v<nitric_host_str, nitric_str>);
static_assert(std::is_same_v<nitric_plugin_instance, nitric_host>);

#define ABI_CXX_FIELD_ROW(type, field, offset, size) \
  Row{#type "." #field, offsetof(type, field), sizeof(type::field)},
#define ABI_CXX_SIZE_ROW(type, size) Row{#type, 0, sizeof(type)},

constexpr Row kCxxRows[] = {NITRIC_ABI_FIELDS(ABI_CXX_FIELD_ROW)
                                NITRIC_ABI_SIZES(ABI_CXX_SIZE_ROW)};

TEST(AbiLayout, CAndCxxCompilersLayOutEveryFieldAlike) {
  size_t count = 0;
  const abi_c_row* c_rows = abi_c_layout(&count);
  ASSERT_EQ(count, std::size(kCxxRows));
  for (size_t i = 0; i < count; ++i) {
    SCOPED_TRACE(kCxxRows[i].name);
    EXPECT_STREQ(c_rows[i].name, kCxxRows[i].name);
    EXPECT_EQ(c_rows[i].offset, kCxxRows[i].offset);
    EXPECT_EQ(c_rows[i].size, kCxxRows[i].size);
  }
}

TEST(AbiLayout, TheHostApiTableHasOneRowPerField) {
  // The rows cover the table end to end: each field starts where the one
  // before it ended (no field left out of abi_layout.h).
  size_t end = 0;
  for (const Row& row : kCxxRows) {
    if (std::strncmp(row.name, "nitric_host_api.", 16) != 0) continue;
    EXPECT_EQ(row.offset, end) << row.name;
    end = row.offset + row.size;
  }
  EXPECT_EQ(end, sizeof(nitric_host_api));
}

TEST(AbiNames, EventTypesHaveOneLowerCaseSpellingInBothLanguages) {
  for (int type : {NITRIC_EVENT_CONNECT, NITRIC_EVENT_DISCONNECT, NITRIC_EVENT_MESSAGE}) {
    EXPECT_STREQ(abi_c_event_type_name(type),
                 nitric_event_type_name(static_cast<nitric_event_type>(type)));
  }
  EXPECT_STREQ(nitric_event_type_name(NITRIC_EVENT_CONNECT), "connect");
  EXPECT_STREQ(nitric_event_type_name(NITRIC_EVENT_DISCONNECT), "disconnect");
  EXPECT_STREQ(nitric_event_type_name(NITRIC_EVENT_MESSAGE), "message");
  EXPECT_STREQ(abi_c_event_type_name(7), "unknown");
}

TEST(AbiNames, KvPermissionsHaveOneLowerCaseSpellingInBothLanguages) {
  EXPECT_STREQ(abi_c_kv_permission_name(NITRIC_KV_GET), "get");
  EXPECT_STREQ(abi_c_kv_permission_name(NITRIC_KV_SET), "set");
  EXPECT_STREQ(abi_c_kv_permission_name(NITRIC_KV_DELETE), "delete");
  EXPECT_STREQ(nitric_kv_permission_name(NITRIC_KV_GET | NITRIC_KV_SET), "unknown");
  EXPECT_STREQ(abi_c_kv_permission_name(0), "unknown");
}

}  // namespace
