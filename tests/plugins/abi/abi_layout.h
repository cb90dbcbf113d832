/* The frozen layout of the plugin ABI (plugin.h, ABI major 1) on x86_64 LP64,
 * checked by the compiler. Included by one C translation unit
 * (abi_layout_c.c) and one C++ translation unit (abi_layout_test.cc), so a
 * header change that moves a field for either language fails to compile.
 *
 * Every field of nitric_host_api, nitric_plugin_descriptor,
 * nitric_config_value and the ELF note nitric_abi_note has an offset and a
 * size here, and each struct's sizeof
 * is pinned, so appending a field without adding it here fails as well: then
 * add the new field's line and bump NITRIC_ABI_MINOR. Never change a number
 * that is already here: that is a new ABI major. */
#ifndef NITRIC_TESTS_ABI_LAYOUT_H_
#define NITRIC_TESTS_ABI_LAYOUT_H_

#include <nitric/plugin.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__x86_64__) || !defined(__LP64__)
#error "abi_layout.h holds the x86_64 LP64 layout; add this platform's numbers"
#endif

#ifdef __cplusplus
#define NITRIC_LAYOUT_ASSERT(cond, text) static_assert(cond, text)
#else
#define NITRIC_LAYOUT_ASSERT(cond, text) _Static_assert(cond, text)
#endif

/* Offset and size of one field. */
#define NITRIC_LAYOUT_FIELD(type, field, offset, size)                                \
  NITRIC_LAYOUT_ASSERT(offsetof(type, field) == (offset), #type "." #field " moved"); \
  NITRIC_LAYOUT_ASSERT(sizeof(((type*)0)->field) == (size), #type "." #field " resized");
#define NITRIC_LAYOUT_SIZE(type, size) \
  NITRIC_LAYOUT_ASSERT(sizeof(type) == (size), "sizeof(" #type ") changed");

/* Every field: X(struct, field, offset, size). */
#define NITRIC_ABI_FIELDS(X)                       \
  X(nitric_str, ptr, 0, 8)                         \
  X(nitric_str, len, 8, 8)                         \
  X(nitric_buffer, ptr, 0, 8)                      \
  X(nitric_buffer, len, 8, 8)                      \
  X(nitric_config_value, type, 0, 4)               \
  X(nitric_config_value, string, 8, 16)            \
  X(nitric_config_value, integer, 24, 8)           \
  X(nitric_config_value, number, 32, 8)            \
  X(nitric_config_value, boolean, 40, 4)           \
  X(nitric_config_value, count, 48, 8)             \
  X(nitric_plugin_descriptor, abi_major, 0, 4)     \
  X(nitric_plugin_descriptor, abi_minor, 4, 4)     \
  X(nitric_plugin_descriptor, size, 8, 8)          \
  X(nitric_plugin_descriptor, name, 16, 8)         \
  X(nitric_plugin_descriptor, version, 24, 8)      \
  X(nitric_plugin_descriptor, init, 32, 8)         \
  X(nitric_plugin_descriptor, shutdown, 40, 8)     \
  X(nitric_plugin_descriptor, export_state, 48, 8) \
  X(nitric_plugin_descriptor, import_state, 56, 8) \
  X(nitric_abi_note, namesz, 0, 4)                 \
  X(nitric_abi_note, descsz, 4, 4)                 \
  X(nitric_abi_note, type, 8, 4)                   \
  X(nitric_abi_note, name, 12, 8)                  \
  X(nitric_abi_note, abi_major, 20, 4)             \
  X(nitric_abi_note, abi_minor, 24, 4)             \
  X(nitric_host_api, size, 0, 8)                   \
  X(nitric_host_api, abi_major, 8, 4)              \
  X(nitric_host_api, abi_minor, 12, 4)             \
  X(nitric_host_api, last_error, 16, 8)            \
  X(nitric_host_api, set_error, 24, 8)             \
  X(nitric_host_api, log, 32, 8)                   \
  X(nitric_host_api, config_get, 40, 8)            \
  X(nitric_host_api, declare_websocket, 48, 8)     \
  X(nitric_host_api, on, 56, 8)                    \
  X(nitric_host_api, declare_kv, 64, 8)            \
  X(nitric_host_api, event_type, 72, 8)            \
  X(nitric_host_api, event_socket, 80, 8)          \
  X(nitric_host_api, event_connection_id, 88, 8)   \
  X(nitric_host_api, event_message, 96, 8)         \
  X(nitric_host_api, event_query_count, 104, 8)    \
  X(nitric_host_api, event_query_key, 112, 8)      \
  X(nitric_host_api, event_query_value, 120, 8)    \
  X(nitric_host_api, event_reject, 128, 8)         \
  X(nitric_host_api, ws_send, 136, 8)              \
  X(nitric_host_api, ws_close, 144, 8)             \
  X(nitric_host_api, ws_details, 152, 8)           \
  X(nitric_host_api, kv_get, 160, 8)               \
  X(nitric_host_api, kv_set, 168, 8)               \
  X(nitric_host_api, kv_delete, 176, 8)            \
  X(nitric_host_api, kv_keys, 184, 8)              \
  X(nitric_host_api, kv_keys_next, 192, 8)         \
  X(nitric_host_api, kv_keys_free, 200, 8)         \
  X(nitric_host_api, buffer_free, 208, 8)          \
  X(nitric_host_api, event_set_error, 216, 8)      \
  X(nitric_host_api, ws_send_start, 224, 8)        \
  X(nitric_host_api, ws_send_wait, 232, 8)

/* Every struct and enum: X(type, size). */
#define NITRIC_ABI_SIZES(X)       \
  X(nitric_status, 4)             \
  X(nitric_event_type, 4)         \
  X(nitric_log_level, 4)          \
  X(nitric_config_type, 4)        \
  X(nitric_str, 16)               \
  X(nitric_buffer, 16)            \
  X(nitric_config_value, 56)      \
  X(nitric_plugin_descriptor, 64) \
  X(nitric_abi_note, 28)          \
  X(nitric_send_id, 8)            \
  X(nitric_host_api, 240)

NITRIC_ABI_FIELDS(NITRIC_LAYOUT_FIELD)
NITRIC_ABI_SIZES(NITRIC_LAYOUT_SIZE)

/* The numbers a compiled plugin carries. */
NITRIC_LAYOUT_ASSERT(NITRIC_OK == 0 && NITRIC_DONE == 1 && NITRIC_ERR_INVALID_ARGUMENT == 2 &&
                         NITRIC_ERR_NOT_FOUND == 3 && NITRIC_ERR_PERMISSION_DENIED == 4 &&
                         NITRIC_ERR_UNAVAILABLE == 5 && NITRIC_ERR_FAILED_PRECONDITION == 6 &&
                         NITRIC_ERR_INTERNAL == 7 && NITRIC_ERR_HANDLER == 8 &&
                         NITRIC_ERR_TOO_LARGE == 9,
                     "nitric_status values moved");
NITRIC_LAYOUT_ASSERT(NITRIC_EVENT_CONNECT == 0 && NITRIC_EVENT_DISCONNECT == 1 &&
                         NITRIC_EVENT_MESSAGE == 2,
                     "nitric_event_type values moved");
NITRIC_LAYOUT_ASSERT(NITRIC_KV_GET == 1u && NITRIC_KV_SET == 2u && NITRIC_KV_DELETE == 4u,
                     "NITRIC_KV_* bits moved");
NITRIC_LAYOUT_ASSERT(NITRIC_LOG_TRACE == 0 && NITRIC_LOG_DEBUG == 1 && NITRIC_LOG_INFO == 2 &&
                         NITRIC_LOG_WARN == 3 && NITRIC_LOG_ERROR == 4,
                     "nitric_log_level values moved");
NITRIC_LAYOUT_ASSERT(NITRIC_CONFIG_NONE == 0 && NITRIC_CONFIG_STRING == 1 &&
                         NITRIC_CONFIG_INTEGER == 2 && NITRIC_CONFIG_FLOAT == 3 &&
                         NITRIC_CONFIG_BOOL == 4 && NITRIC_CONFIG_ARRAY == 5 &&
                         NITRIC_CONFIG_TABLE == 6,
                     "nitric_config_type values moved");

#endif /* NITRIC_TESTS_ABI_LAYOUT_H_ */
