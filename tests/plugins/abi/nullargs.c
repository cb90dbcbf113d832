/* A careless plain-C plugin: it passes NULL strings, NULL out-pointers and
 * stale or foreign event handles to every kind of host function, at init and
 * in its message handler, and reports the statuses it got back. It is built
 * with -fno-exceptions -fno-asynchronous-unwind-tables: a C++ exception
 * thrown by the host through these frames could not unwind and would abort
 * the host, so the host surviving this plugin shows that none escapes.
 *
 * Socket "nullargs". Each message is answered with one line:
 *   "init: <label>=<STATUS> ... | handler: <label>=<STATUS> ..."
 * The second and later messages also report "stale_event": the handle of
 * the previous message, kept past its handler on purpose. */
#include <nitric/plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const nitric_host_api* g_api;
static nitric_host* g_host;
static char g_init_report[512];
static nitric_event* g_previous_event; /* kept on purpose: must be refused */

static void append(char* buf, size_t cap, const char* label, nitric_status status) {
  const size_t len = strlen(buf);
  snprintf(buf + len, cap - len, "%s%s=%s", len != 0 ? " " : "", label, nitric_status_name(status));
}

/* What another thread of the plugin gets when it declares, or uses the
 * event handle of the handler that started it. */
struct thread_call {
  nitric_event* event;
  nitric_status declared;
  nitric_status queried;
};

static void* other_thread(void* arg) {
  struct thread_call* call = (struct thread_call*)arg;
  call->declared = g_api->declare_websocket(g_host, (nitric_str){"late", 4});
  if (call->event != NULL) {
    nitric_str key;
    size_t count;
    call->queried = g_api->event_query_key(call->event, 0, &key, &count);
  }
  return NULL;
}

static void run_thread(struct thread_call* call) {
  pthread_t thread;
  if (pthread_create(&thread, NULL, other_thread, call) == 0) pthread_join(thread, NULL);
}

static nitric_status on_message(nitric_event* event, void* user_data) {
  char report[1024];
  const nitric_str store = {"nullargs", 8};
  nitric_str socket = g_api->event_socket(event);
  nitric_str connection = g_api->event_connection_id(event);
  nitric_str key;
  size_t count;
  nitric_buffer value = {NULL, 0};
  nitric_key_iter* iter = NULL;
  struct thread_call call = {event, NITRIC_OK, NITRIC_OK};
  (void)user_data;

  snprintf(report, sizeof report, "init: %s | handler:", g_init_report);
  append(report, sizeof report, "send_null_socket",
         g_api->ws_send(g_host, (nitric_str){NULL, 5}, connection, (nitric_str){"x", 1}));
  append(report, sizeof report, "send_null_connection",
         g_api->ws_send(g_host, socket, (nitric_str){NULL, 5}, (nitric_str){"x", 1}));
  append(report, sizeof report, "send_null_data",
         g_api->ws_send(g_host, socket, connection, (nitric_str){NULL, 5}));
  append(report, sizeof report, "close_null_connection",
         g_api->ws_close(g_host, socket, (nitric_str){NULL, 2}));
  append(report, sizeof report, "kv_set_null_json",
         g_api->kv_set(g_host, store, (nitric_str){"k", 1}, (nitric_str){NULL, 9}));
  append(report, sizeof report, "kv_get_null_key",
         g_api->kv_get(g_host, store, (nitric_str){NULL, 3}, &value));
  append(report, sizeof report, "kv_get_null_out",
         g_api->kv_get(g_host, store, (nitric_str){"k", 1}, NULL));
  append(report, sizeof report, "kv_keys_null_prefix",
         g_api->kv_keys(g_host, store, (nitric_str){NULL, 1}, &iter));
  append(report, sizeof report, "kv_keys_next_null_iter", g_api->kv_keys_next(NULL, &key));
  append(report, sizeof report, "send_null_host",
         g_api->ws_send(NULL, socket, connection, (nitric_str){"x", 1}));
  append(report, sizeof report, "query_null_event", g_api->event_query_key(NULL, 0, &key, &count));
  if (g_previous_event != NULL) {
    append(report, sizeof report, "stale_event",
           g_api->event_query_key(g_previous_event, 0, &key, &count));
  }
  run_thread(&call);
  append(report, sizeof report, "thread_event", call.queried);
  append(report, sizeof report, "thread_declare", call.declared);
  g_api->log(g_host, NITRIC_LOG_INFO, NULL, 5);
  g_api->set_error(g_host, NULL, 7);
  g_api->buffer_free(NULL);
  g_api->kv_keys_free(NULL);
  g_previous_event = event;

  return g_api->ws_send(g_host, socket, connection, (nitric_str){report, strlen(report)});
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  nitric_config_value config;
  struct thread_call call = {NULL, NITRIC_OK, NITRIC_OK};
  nitric_status st;
  (void)state;
  g_api = api;
  g_host = host;
  g_init_report[0] = '\0';

  append(g_init_report, sizeof g_init_report, "declare_null",
         api->declare_websocket(host, (nitric_str){NULL, 3}));
  append(g_init_report, sizeof g_init_report, "on_null",
         api->on(host, (nitric_str){NULL, 4}, NITRIC_ON_MESSAGE, on_message, NULL));
  append(g_init_report, sizeof g_init_report, "kv_null",
         api->declare_kv(host, (nitric_str){NULL, 2}, NITRIC_KV_GET));
  append(g_init_report, sizeof g_init_report, "config_null_path",
         api->config_get(host, NULL, 4, &config));
  append(g_init_report, sizeof g_init_report, "config_null_out",
         api->config_get(host, "x", 1, NULL));
  append(g_init_report, sizeof g_init_report, "declare_null_host",
         api->declare_websocket(NULL, (nitric_str){"nullargs", 8}));
  run_thread(&call);
  append(g_init_report, sizeof g_init_report, "init_thread_declare", call.declared);
  api->log(host, NITRIC_LOG_INFO, NULL, 3);

  st = api->declare_kv(host, (nitric_str){"nullargs", 8}, NITRIC_KV_GET | NITRIC_KV_SET);
  if (st != NITRIC_OK) return st;
  return api->on(host, (nitric_str){"nullargs", 8}, NITRIC_ON_MESSAGE, on_message, NULL);
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {.abi_major = NITRIC_ABI_MAJOR,
                                             .abi_minor = NITRIC_ABI_MINOR,
                                             .size = sizeof(nitric_plugin_descriptor),
                                             .name = "nullargs",
                                             .init = init};
  return &d;
}
