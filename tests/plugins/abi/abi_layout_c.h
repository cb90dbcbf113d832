/* What the C compiler sees of the ABI, for the C++ test to compare with its
 * own view (abi_layout_c.c is compiled as C, abi_layout_test.cc as C++). */
#ifndef NITRIC_TESTS_ABI_LAYOUT_C_H_
#define NITRIC_TESTS_ABI_LAYOUT_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct abi_c_row {
  const char* name; /* "struct.field" or "struct" */
  size_t offset;    /* 0 for a whole type */
  size_t size;
} abi_c_row;

/* Every field of abi_layout.h as the C compiler lays it out, then every
 * type's size; `*count` rows. */
const abi_c_row* abi_c_layout(size_t* count);

/* plugin.h's name helpers, called from C. */
const char* abi_c_event_type_name(int type);
const char* abi_c_kv_permission_name(uint32_t permission);

#ifdef __cplusplus
}
#endif

#endif /* NITRIC_TESTS_ABI_LAYOUT_C_H_ */
