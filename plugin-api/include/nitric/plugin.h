/*
 * nitric/plugin.h - the stable C ABI between nitric-host and its plugins.
 *
 * This is the only header the host and a plugin share. It is plain C99: no C++
 * type, exception, allocator or STL object crosses it. A plugin written in C
 * links no C++ runtime; plugin.hpp is a header-only C++ face over it.
 *
 * LIFECYCLE
 *   1. The host reads the plugin's ABI note (NITRIC_ABI_NOTE below) from the
 *      file. A different major is refused there: no code of the plugin runs,
 *      not even its constructors. A file without the note (built against
 *      plugin.h 1.0) is let through to step 3's check, with a log line.
 *   2. The host stages the file under a private name and dlopen()s it; the
 *      plugin's constructors run here.
 *   3. It looks up the one exported entry symbol, nitric_plugin_entry, calls it
 *      and reads abi_major from the returned descriptor. A different major is
 *      refused before init() or any other callback runs.
 *   4. init() is called once with the host's function table. Declarations
 *      (websockets, KV stores) and handler registrations are only accepted
 *      during init().
 *   5. On a hot reload that replaces this plugin, the old version's
 *      export_state() may hand bytes to the new version's import_state(),
 *      which runs after the new init() and before its first event. When both
 *      callbacks exist, the new version's events wait until the old version's
 *      last event finished and the bytes were imported.
 *   6. shutdown() is called once no event of this plugin is running any more,
 *      then the file is dlclose()d. Nothing of the plugin (function pointer,
 *      user_data, thread) may be used by anyone after shutdown() returns.
 *
 * THREADS
 *   Handlers run on the host's worker pool. Events of one connection are
 *   delivered one at a time, in arrival order; events of different connections
 *   run in parallel, so a handler must be thread-safe with respect to other
 *   connections. Every host function is thread-safe and may block (KV and send
 *   calls are network round trips). init, import_state, export_state and
 *   shutdown are never called concurrently with each other.
 *
 * OWNERSHIP (the rule for every pointer below)
 *   - nitric_str: borrowed bytes (ptr, len), NOT NUL-terminated, binary-safe.
 *     Two names (ABI 1.1) say which way it goes; both are nitric_str:
 *     nitric_plugin_str, passed by the plugin: read by the host during the
 *     call only; nitric_host_str, returned by the host: valid for the scope
 *     stated on the function.
 *   - nitric_buffer: bytes the host allocated for the plugin; the plugin owns
 *     them and must release them with api->buffer_free().
 *   - Opaque handles (nitric_plugin_instance, also spelled nitric_host: the
 *     host's context for one loaded plugin version, not the host; nitric_event,
 *     nitric_key_iter) are owned by the host; their lifetime is stated on each
 *     type. A nitric_send_id (ABI 1.1) is a number, not a pointer.
 *
 * ARGUMENTS AND HANDLES (what the host promises about bad calls)
 *   No host function lets an exception or a crash out because of its
 *   arguments; a failure inside the host itself returns
 *   NITRIC_ERR_INTERNAL with text in api->last_error().
 *   - A nitric_str {NULL, len > 0}, a NULL nitric_host*, nitric_key_iter*
 *     or out-pointer: NITRIC_ERR_INVALID_ARGUMENT, nothing read or written.
 *     ({NULL, 0} is the empty string. The out-pointers of event_query_key
 *     and event_query_value are optional: NULL skips that result.)
 *   - An event handle is valid only during the handler call it was passed
 *     to, and only on that call's thread. Used after the handler returned,
 *     or from another thread: NITRIC_ERR_FAILED_PRECONDITION (a NULL
 *     handle: NITRIC_ERR_INVALID_ARGUMENT). The host checks the handle
 *     before using it (it is a serial number, not an address), so a stale
 *     handle never reaches freed memory.
 *   - Declarations (declare_websocket, on, declare_kv) are accepted only
 *     during init() and only on the thread running init(); from any other
 *     thread, or after init() returned: NITRIC_ERR_FAILED_PRECONDITION.
 *   - Functions without a status result (event_type, event_socket, ...)
 *     return an empty value instead (NITRIC_EVENT_TYPE_INVALID, {NULL, 0},
 *     0) and leave the reason in api->last_error(); set_error and log treat
 *     {NULL, len} as empty text; buffer_free and kv_keys_free accept NULL.
 *
 * COMPATIBILITY
 *   NITRIC_ABI_MAJOR changes only on a breaking change; a plugin built for
 *   another major is refused. NITRIC_ABI_MINOR grows when functions are
 *   appended to nitric_host_api (never reordered or removed), fields to
 *   nitric_plugin_descriptor, or values to nitric_status (1.1: TOO_LARGE).
 *   Both structs carry their size, so either side can tell whether a field
 *   exists: nitric_host_api starts with it (use NITRIC_API_HAS(api, field));
 *   nitric_plugin_descriptor has it third, after abi_major and abi_minor,
 *   which never move. A 1.1 plugin runs on a 1.0 host and the other way
 *   round.
 *
 *   ABI 1.1 is: NITRIC_ERR_TOO_LARGE; the ABI note; event_set_error,
 *   ws_send_start and ws_send_wait appended to nitric_host_api; the
 *   ownership names nitric_plugin_str, nitric_host_str and
 *   nitric_plugin_instance (aliases: the old names keep working). The host
 *   reads the plugin's abi_minor from its descriptor, and one behaviour
 *   depends on it: ws_send of a 1.0 plugin is pipelined inside handlers when
 *   the host's config says so (host.pipelined_sends, the default); ws_send of
 *   a 1.1 plugin always blocks and returns the send's own result, and a 1.1
 *   plugin asks for a pipelined send explicitly with ws_send_start. A 1.1
 *   plugin on a 1.0 host finds the new functions missing (NITRIC_API_HAS)
 *   and falls back to set_error and ws_send.
 */
#ifndef NITRIC_PLUGIN_H_
#define NITRIC_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NITRIC_ABI_MAJOR 1
#define NITRIC_ABI_MINOR 1

/* The one symbol a plugin exports. */
#define NITRIC_PLUGIN_ENTRY_SYMBOL "nitric_plugin_entry"

#if defined(__GNUC__)
#define NITRIC_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define NITRIC_PLUGIN_EXPORT
#endif

/* Status of every fallible call. Error text for the last non-OK status a host
 * function returned on this thread: api->last_error().
 *
 * Statuses are appended in minor versions (ABI 1.1 added
 * NITRIC_ERR_TOO_LARGE). A plugin must treat any status other than
 * NITRIC_OK (and NITRIC_DONE from an iterator) as a failure, including a
 * value its header does not name: a newer host may return one. Only
 * NITRIC_ERR_UNAVAILABLE says that the same call may succeed later. */
typedef enum nitric_status {
  NITRIC_OK = 0,
  /* Returned by an iterator that has no more items. Not an error. */
  NITRIC_DONE = 1,
  NITRIC_ERR_INVALID_ARGUMENT = 2,
  NITRIC_ERR_NOT_FOUND = 3,
  /* The store or socket was not declared with the permission the call needs. */
  NITRIC_ERR_PERMISSION_DENIED = 4,
  /* The membrane cannot be reached right now; the call may succeed later. */
  NITRIC_ERR_UNAVAILABLE = 5,
  /* The call is not allowed now (e.g. a declaration after init). */
  NITRIC_ERR_FAILED_PRECONDITION = 6,
  NITRIC_ERR_INTERNAL = 7,
  /* Returned by a handler or init to say "failed"; text via api->set_error. */
  NITRIC_ERR_HANDLER = 8,
  /* ABI 1.1. The message or value is larger than the membrane accepts (a
   * gRPC message over its size limit: RESOURCE_EXHAUSTED). Retrying the same
   * call cannot succeed: send less. A 1.0 host reported this as
   * NITRIC_ERR_UNAVAILABLE, which wrongly invited a retry. */
  NITRIC_ERR_TOO_LARGE = 9
} nitric_status;

/* The name of a status ("OK", "NOT_FOUND", ...), for logs and error text.
 * Static storage; never NULL. A header-only helper: not part of the ABI. */
static inline const char* nitric_status_name(nitric_status status) {
  switch (status) {
    case NITRIC_OK:
      return "OK";
    case NITRIC_DONE:
      return "DONE";
    case NITRIC_ERR_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case NITRIC_ERR_NOT_FOUND:
      return "NOT_FOUND";
    case NITRIC_ERR_PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case NITRIC_ERR_UNAVAILABLE:
      return "UNAVAILABLE";
    case NITRIC_ERR_FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case NITRIC_ERR_INTERNAL:
      return "INTERNAL";
    case NITRIC_ERR_HANDLER:
      return "HANDLER";
    case NITRIC_ERR_TOO_LARGE:
      return "TOO_LARGE";
  }
  return "UNKNOWN";
}

typedef enum nitric_event_type {
  NITRIC_EVENT_CONNECT = 0,
  NITRIC_EVENT_DISCONNECT = 1,
  NITRIC_EVENT_MESSAGE = 2
} nitric_event_type;

/* The name of an event type: "connect", "disconnect" or "message" (lower
 * case, as the SDKs' EventType() prints it and as the host's logs, --check
 * output and plugin.hpp spell it), "unknown" for any other value. The one
 * place these names are spelled. Static storage; never NULL. A header-only
 * helper: not part of the ABI. */
static inline const char* nitric_event_type_name(nitric_event_type type) {
  switch (type) {
    case NITRIC_EVENT_CONNECT:
      return "connect";
    case NITRIC_EVENT_DISCONNECT:
      return "disconnect";
    case NITRIC_EVENT_MESSAGE:
      return "message";
  }
  return "unknown";
}

/* What api->event_type() returns for an event handle that is not valid on
 * the calling thread now (see ARGUMENTS AND HANDLES). Not an event type:
 * never passed to a handler. A header-only value, not an ABI change. */
#define NITRIC_EVENT_TYPE_INVALID ((nitric_event_type)3)

/* Bit masks for api->on(); combine with |. */
#define NITRIC_ON_CONNECT (1u << NITRIC_EVENT_CONNECT)
#define NITRIC_ON_DISCONNECT (1u << NITRIC_EVENT_DISCONNECT)
#define NITRIC_ON_MESSAGE (1u << NITRIC_EVENT_MESSAGE)

/* Permissions for api->declare_kv(); combine with |. */
#define NITRIC_KV_GET (1u << 0)
#define NITRIC_KV_SET (1u << 1)
#define NITRIC_KV_DELETE (1u << 2)

/* The name of ONE permission bit: "get", "set" or "delete" (lower case, as
 * the host's logs and error text spell them), "unknown" for any other value
 * (including a combination of bits). The one place these names are spelled.
 * Static storage; never NULL. A header-only helper: not part of the ABI. */
static inline const char* nitric_kv_permission_name(uint32_t permission) {
  switch (permission) {
    case NITRIC_KV_GET:
      return "get";
    case NITRIC_KV_SET:
      return "set";
    case NITRIC_KV_DELETE:
      return "delete";
  }
  return "unknown";
}

typedef enum nitric_log_level {
  NITRIC_LOG_TRACE = 0,
  NITRIC_LOG_DEBUG = 1,
  NITRIC_LOG_INFO = 2,
  NITRIC_LOG_WARN = 3,
  NITRIC_LOG_ERROR = 4
} nitric_log_level;

/* Borrowed bytes. OWNERSHIP: whoever passes it; see the call for its scope. */
typedef struct nitric_str {
  const char* ptr;
  size_t len;
} nitric_str;

/* ABI 1.1: the same struct, named for its owner (source-compatible aliases;
 * the function table below uses them).
 *   nitric_plugin_str: the plugin's bytes, lent to the host; the host reads
 *     them during the call only and never keeps the pointer.
 *   nitric_host_str: the host's bytes, lent to the plugin for the scope the
 *     function states (e.g. the handler call); copy them to keep them. */
typedef nitric_str nitric_plugin_str;
typedef nitric_str nitric_host_str;

/* Host-allocated bytes. OWNERSHIP: the plugin, released by api->buffer_free().
 * ptr[len] is a NUL byte, so text can be used as a C string as well. */
typedef struct nitric_buffer {
  char* ptr;
  size_t len;
} nitric_buffer;

/* The host's context for one loaded plugin version (not the host: a reload
 * gives the new version its own). OWNERSHIP: host. Valid from init() until
 * shutdown() returns. nitric_plugin_instance is its ABI 1.1 name; nitric_host
 * keeps working. */
typedef struct nitric_host nitric_host;
typedef struct nitric_host nitric_plugin_instance;

/* One websocket event. OWNERSHIP: host. Valid only during the handler call,
 * and only on the thread that called the handler. Do not keep it: the host
 * answers a kept handle with NITRIC_ERR_FAILED_PRECONDITION (see ARGUMENTS
 * AND HANDLES), and it is not a pointer the plugin may dereference. */
typedef struct nitric_event nitric_event;

/* A KV key scan. OWNERSHIP: host; the plugin must release it with
 * api->kv_keys_free(). Use from one thread at a time. */
typedef struct nitric_key_iter nitric_key_iter;

/* ABI 1.1. A send started by api->ws_send_start() that the plugin waits for
 * with api->ws_send_wait(). A number checked by the host, not a pointer;
 * 0 is "no send in flight". */
typedef uint64_t nitric_send_id;

/* A handler. Return NITRIC_OK to accept. Any other status on a Connect event
 * rejects the connection (like an error from a Go SDK handler) and stops the
 * chain of handlers; on other events it is logged with the text set through
 * api->event_set_error() (ABI 1.1) or api->set_error(). user_data is what
 * was passed to api->on(). */
typedef nitric_status (*nitric_handler_fn)(nitric_event* event, void* user_data);

/* Appends bytes to the state being exported; see export_state. */
typedef void (*nitric_state_writer_fn)(void* writer_ctx, const char* ptr, size_t len);

/* Values of the plugin's own config table ([plugins.<name>] in the host's
 * TOML config). */
typedef enum nitric_config_type {
  NITRIC_CONFIG_NONE = 0, /* no such key */
  NITRIC_CONFIG_STRING = 1,
  NITRIC_CONFIG_INTEGER = 2,
  NITRIC_CONFIG_FLOAT = 3,
  NITRIC_CONFIG_BOOL = 4,
  NITRIC_CONFIG_ARRAY = 5,
  NITRIC_CONFIG_TABLE = 6
} nitric_config_type;

/* OWNERSHIP: host. `string` stays valid until shutdown() returns: a plugin's
 * config never changes while it is loaded (a reload loads a new version).
 * The plugin allocates it, so its layout is frozen for ABI major 1. */
typedef struct nitric_config_value {
  nitric_config_type type;
  nitric_host_str string; /* STRING */
  int64_t integer;        /* INTEGER */
  double number;          /* FLOAT (and INTEGER, converted) */
  int boolean;            /* BOOL */
  size_t count;           /* ARRAY: number of elements; TABLE: number of keys */
} nitric_config_value;

/* The host's function table. OWNERSHIP: host; valid, and unchanged, from
 * init() until shutdown() returns. Functions are only ever appended. */
typedef struct nitric_host_api {
  /* sizeof(nitric_host_api) in the host that filled it in. */
  size_t size;
  uint32_t abi_major;
  uint32_t abi_minor;

  /* ---- errors and logging ---- */

  /* Text of the last non-OK status a host function returned on this thread.
   * Valid until the next host call on this thread. Never NULL. */
  const char* (*last_error)(void);
  /* Attaches a reason to the failure the plugin is about to return from init()
   * or a handler; the host puts it in the log line. Copied. Call it on the
   * thread running that init() or handler: the reason belongs to that call
   * (handlers of other connections run concurrently), the last one wins.
   * The host keeps it in a thread-local. Inside a handler, a 1.1 plugin
   * uses event_set_error, which ties the reason to the call's event; this
   * one stays for init(), export_state and import_state (and 1.0 plugins). */
  void (*set_error)(nitric_plugin_instance* host, const char* msg, size_t len);
  /* Logs under the plugin's name through the host's logger. Copied. */
  void (*log)(nitric_plugin_instance* host, nitric_log_level level, const char* msg, size_t len);

  /* ---- config ---- */

  /* Looks up `path` in the plugin's config table: "key", "table.key",
   * "array[2]". A missing key gives OK with type NITRIC_CONFIG_NONE. */
  nitric_status (*config_get)(nitric_plugin_instance* host, const char* path, size_t path_len,
                              nitric_config_value* out);

  /* ---- declarations: during init() only, on init()'s thread ---- */

  /* Declares websocket `socket` (as an SDK's NewWebsocket does). Idempotent. */
  nitric_status (*declare_websocket)(nitric_plugin_instance* host, nitric_plugin_str socket);
  /* Registers `handler` for every event type in `event_mask` (NITRIC_ON_*) of
   * `socket`, declaring the socket if needed. Registering the same event type
   * again replaces the earlier handler, as the Go SDK's On() does.
   * user_data is passed back untouched; it stays the plugin's. */
  nitric_status (*on)(nitric_plugin_instance* host, nitric_plugin_str socket, uint32_t event_mask,
                      nitric_handler_fn handler, void* user_data);
  /* Declares KV store `store` with the NITRIC_KV_* permissions in `allow`.
   * Declaring it again adds permissions. */
  nitric_status (*declare_kv)(nitric_plugin_instance* host, nitric_plugin_str store,
                              uint32_t allow);

  /* ---- events: only inside the handler the event was passed to ----
   * Elsewhere: FAILED_PRECONDITION, or an empty value (ARGUMENTS AND HANDLES). */

  nitric_event_type (*event_type)(const nitric_event* event);
  /* Borrowed; valid during the handler call. */
  nitric_host_str (*event_socket)(const nitric_event* event);
  nitric_host_str (*event_connection_id)(const nitric_event* event);
  /* Message body (binary-safe); empty for Connect and Disconnect. */
  nitric_host_str (*event_message)(const nitric_event* event);
  /* Query parameters of a Connect event (none for other events): `count`
   * distinct keys, each with one or more values. The wire carries a map, so
   * the order of keys is lost: keys come sorted bytewise; the values of one
   * key keep their arrival order. */
  size_t (*event_query_count)(const nitric_event* event);
  /* Key number `index` and how many values it has. NOT_FOUND past the end. */
  nitric_status (*event_query_key)(const nitric_event* event, size_t index, nitric_host_str* key,
                                   size_t* value_count);
  /* Value `value_index` of key number `key_index`. NOT_FOUND past the end. */
  nitric_status (*event_query_value)(const nitric_event* event, size_t key_index,
                                     size_t value_index, nitric_host_str* value);
  /* Marks a Connect event as rejected; later handlers in the chain do not run.
   * Ignored for other event types. */
  void (*event_reject)(nitric_event* event);

  /* ---- websockets: any time after init() returned OK ---- */

  /* Sends `data` to a connection of a socket this plugin declared or handles.
   * Valid UTF-8 goes out as a text frame, anything else as binary.
   * A 1.1 plugin (descriptor abi_minor >= 1): the call always blocks and
   * returns the send's own result, whatever the host's config says; inside
   * a handler it first waits for the sends the handler started with
   * ws_send_start, so sends keep their order. For a send that does not
   * block, use ws_send_start.
   * A 1.0 plugin: called from a handler, on its thread, while the host
   * pipelines 1.0 plugins' sends (host.pipelined_sends, the default), it
   * behaves as ws_send_start without a send_out: the send is started and OK
   * returned at once, and a failed send fails the handler's call. Elsewhere,
   * or with host.pipelined_sends = false, it blocks and returns the send's
   * own result. */
  nitric_status (*ws_send)(nitric_plugin_instance* host, nitric_plugin_str socket,
                           nitric_plugin_str connection_id, nitric_plugin_str data);
  nitric_status (*ws_close)(nitric_plugin_instance* host, nitric_plugin_str socket,
                            nitric_plugin_str connection_id);
  /* The socket's public URL (e.g. ws://127.0.0.1:4001) into *url. */
  nitric_status (*ws_details)(nitric_plugin_instance* host, nitric_plugin_str socket,
                              nitric_buffer* url);

  /* ---- key-value stores: any time after init() returned OK ----
   * Values are JSON object text, e.g. {"connectionId":"abc"}. A call needs the
   * matching permission from declare_kv, else NITRIC_ERR_PERMISSION_DENIED. */

  /* NITRIC_ERR_NOT_FOUND when the key does not exist. */
  nitric_status (*kv_get)(nitric_plugin_instance* host, nitric_plugin_str store,
                          nitric_plugin_str key, nitric_buffer* json_out);
  /* INVALID_ARGUMENT when `json` is not a JSON object. */
  nitric_status (*kv_set)(nitric_plugin_instance* host, nitric_plugin_str store,
                          nitric_plugin_str key, nitric_plugin_str json);
  /* Deleting a missing key succeeds. */
  nitric_status (*kv_delete)(nitric_plugin_instance* host, nitric_plugin_str store,
                             nitric_plugin_str key);
  /* Starts a scan of the keys that begin with `prefix` ("" for all). Needs
   * NITRIC_KV_GET. */
  nitric_status (*kv_keys)(nitric_plugin_instance* host, nitric_plugin_str store,
                           nitric_plugin_str prefix, nitric_key_iter** iter_out);
  /* Next key into *key (borrowed: valid until the next call on this iterator
   * or kv_keys_free). NITRIC_DONE at the end. */
  nitric_status (*kv_keys_next)(nitric_key_iter* iter, nitric_host_str* key);
  void (*kv_keys_free)(nitric_key_iter* iter);

  /* ---- memory ---- */

  /* Releases a buffer the host returned; resets it to {NULL, 0}. NULL-safe. */
  void (*buffer_free)(nitric_buffer* buffer);

  /* ABI 1.0 ends here. Append new functions below, never above. */

  /* ---- ABI 1.1: check with NITRIC_API_HAS (a 1.0 host has none) ---- */

  /* Attaches a reason to the failure the handler that got `event` is about to
   * return; the host puts it in the log line ("message handler failed on
   * socket S (connection C): HANDLER: <text>"). Copied. The reason belongs
   * to this handler call, not to a thread: the event handle says which call
   * (same rules as the other event functions: FAILED_PRECONDITION for a
   * handle not valid here). The last one wins; it is preferred over text set
   * with set_error during the same call. */
  nitric_status (*event_set_error)(nitric_event* event, const char* msg, size_t len);

  /* Starts sending `data` (as ws_send) without waiting for the membrane,
   * whatever the host's config says.
   * Inside a handler, on its thread: the send is started and OK returned at
   * once (it may wait while 64 sends of the call are in flight, or one to
   * the same connection is). Sends to one connection keep their order, and
   * any other membrane call of the handler (ws_close, ws_send, kv_*) waits
   * for the sends before it. The handler's call ends only when all of its
   * sends completed.
   *   - send_out NULL: the send belongs to the call: a failed send fails the
   *     call as if the handler had returned that error (a Connect is
   *     rejected; the host logs it).
   *   - send_out not NULL: *send_out receives the send's id; ws_send_wait
   *     gives the send's own result, which is then the plugin's to handle (it
   *     does not fail the call). A send never waited for is treated as one
   *     without send_out when the call ends. The id is valid only on the
   *     handler's thread, during that call.
   * Elsewhere (init, a thread of the plugin's own): blocks and returns the
   * send's own result, as ws_send; *send_out is 0.
   * A check that fails (arguments, undeclared socket) returns its status at
   * once with nothing sent and *send_out 0. So: st = ws_send_start(...,
   * &id); if (st == NITRIC_OK) st = ws_send_wait(host, id); */
  nitric_status (*ws_send_start)(nitric_plugin_instance* host, nitric_plugin_str socket,
                                 nitric_plugin_str connection_id, nitric_plugin_str data,
                                 nitric_send_id* send_out);
  /* Waits until the send `send` (from ws_send_start) completed and returns its
   * own status, with its text in last_error(). 0 returns OK at once (no send
   * in flight). Each id is waited for once: again, after the handler call
   * ended, or on another thread: FAILED_PRECONDITION. */
  nitric_status (*ws_send_wait)(nitric_plugin_instance* host, nitric_send_id send);
} nitric_host_api;

/* True when the host's table has `field` (an appended function that an older
 * host may lack) and it is set. */
#define NITRIC_API_HAS(api, field) \
  ((api)->size >= offsetof(nitric_host_api, field) + sizeof((api)->field) && (api)->field != NULL)

/* What a plugin is. OWNERSHIP: plugin; static storage, valid while loaded.
 * The first three fields never move, in any ABI version. */
typedef struct nitric_plugin_descriptor {
  uint32_t abi_major; /* NITRIC_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor; /* NITRIC_ABI_MINOR the plugin was built with */
  size_t size;        /* sizeof(nitric_plugin_descriptor) at plugin build time */

  /* Name for logs and for the [plugins.<name>] config table; NUL-terminated,
   * [A-Za-z0-9_-]. NULL means "the file name without .so". */
  const char* name;
  /* Free-form version text for logs; may be NULL. */
  const char* version;

  /* Required. Declares and registers through `api`. On success may set
   * *plugin_state, which is passed to the callbacks below. A non-OK status
   * refuses the plugin (the reason set with api->set_error is logged): the
   * host then forgets everything the plugin registered and never calls
   * shutdown(), so init() must free what it allocated before failing. */
  nitric_status (*init)(nitric_plugin_instance* host, const nitric_host_api* api,
                        void** plugin_state);

  /* Optional. Called once before unload, after the last event of this
   * version finished. Frees plugin_state. */
  void (*shutdown)(void* plugin_state);

  /* Optional. When a reload replaces this version, writes the state to hand
   * to the new version through `write(writer_ctx, ptr, len)` (any number of
   * calls; the host copies). Called after this version's last event, and
   * only when the new version has import_state. With no write call at all,
   * the new version's import_state is not called. */
  nitric_status (*export_state)(void* plugin_state, nitric_state_writer_fn write, void* writer_ctx);

  /* Optional. Receives the bytes the previous version exported (borrowed for
   * the call), after init() and before the first event. A non-OK status is
   * logged; the plugin still serves. */
  nitric_status (*import_state)(void* plugin_state, const char* ptr, size_t len);
} nitric_plugin_descriptor;

/* The entry symbol's type. It must return a pointer to static storage and do
 * nothing else: for a plugin without the ABI note it runs before the ABI
 * check. */
typedef const nitric_plugin_descriptor* (*nitric_plugin_entry_fn)(void);

/* Declared here, inside extern "C", so that a definition in a C++ file gets C
 * linkage (an unmangled name the host can look up). */
NITRIC_PLUGIN_EXPORT const nitric_plugin_descriptor* nitric_plugin_entry(void);

/* The ABI note: an ELF note (section .note.nitric.abi, name "nitric", type
 * NITRIC_ABI_NOTE_TYPE, descriptor {abi_major, abi_minor} as two uint32_t)
 * that NITRIC_PLUGIN_ENTRY (and so plugin.hpp's NITRIC_PLUGIN) puts in the
 * plugin file. The host reads it from the file's PT_NOTE segments before
 * dlopen, so a plugin for another major is refused without running any of
 * its code. Since ABI 1.1; the layout of the note is fixed for every major. */
#define NITRIC_ABI_NOTE_NAME "nitric"
#define NITRIC_ABI_NOTE_TYPE 0x4e414249u /* "NABI" */

typedef struct nitric_abi_note {
  uint32_t namesz; /* sizeof NITRIC_ABI_NOTE_NAME: 7 */
  uint32_t descsz; /* 8 */
  uint32_t type;   /* NITRIC_ABI_NOTE_TYPE */
  char name[8];    /* "nitric\0", padded to 4-byte alignment */
  uint32_t abi_major;
  uint32_t abi_minor;
} nitric_abi_note;

#if defined(__GNUC__) && defined(__ELF__)
/* Emits the note for ABI major.minor. Used by NITRIC_PLUGIN_ENTRY; a plugin
 * does not need it on its own. */
#define NITRIC_ABI_NOTE(major, minor)                                                         \
  __attribute__((section(".note.nitric.abi"), used, aligned(4))) static const nitric_abi_note \
      nitric_abi_note_ = {sizeof NITRIC_ABI_NOTE_NAME, 8,       NITRIC_ABI_NOTE_TYPE,         \
                          NITRIC_ABI_NOTE_NAME,        (major), (minor)};
#else
#define NITRIC_ABI_NOTE(major, minor) /* not ELF: the host checks the descriptor only */
#endif

/* Define the entry symbol in exactly one source file of a plugin:
 *   NITRIC_PLUGIN_ENTRY {
 *     static const nitric_plugin_descriptor d = {
 *         .abi_major = NITRIC_ABI_MAJOR, .abi_minor = NITRIC_ABI_MINOR,
 *         .size = sizeof(nitric_plugin_descriptor), .name = "echo", .init = init};
 *     return &d;
 *   }
 * Name the fields (designated initializers) rather than list them in order:
 * the layout is pinned by the host's tests, and named fields say which
 * callback is which. */
#define NITRIC_PLUGIN_ENTRY                           \
  NITRIC_ABI_NOTE(NITRIC_ABI_MAJOR, NITRIC_ABI_MINOR) \
  NITRIC_PLUGIN_EXPORT const nitric_plugin_descriptor* nitric_plugin_entry(void)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NITRIC_PLUGIN_H_ */
