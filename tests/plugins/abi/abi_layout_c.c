/* The C translation unit of the ABI layout test: abi_layout.h's static
 * assertions compiled by the C compiler, and the layout it computes. */
#include "abi_layout_c.h"

#include "abi_layout.h"

#define ABI_C_FIELD_ROW(type, field, offset, size) \
  {#type "." #field, offsetof(type, field), sizeof(((type*)0)->field)},
#define ABI_C_SIZE_ROW(type, size) {#type, 0, sizeof(type)},

static const abi_c_row kRows[] = {NITRIC_ABI_FIELDS(ABI_C_FIELD_ROW)
                                      NITRIC_ABI_SIZES(ABI_C_SIZE_ROW)};

const abi_c_row* abi_c_layout(size_t* count) {
  *count = sizeof kRows / sizeof kRows[0];
  return kRows;
}

const char* abi_c_event_type_name(int type) {
  return nitric_event_type_name((nitric_event_type)type);
}

const char* abi_c_kv_permission_name(uint32_t permission) {
  return nitric_kv_permission_name(permission);
}
