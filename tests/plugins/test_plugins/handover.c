/*
 * handover: a C test plugin for the state hand-over's failure paths. Built
 * three times from this file, all named "handover" (socket "handover"), so a
 * test can replace one build with another:
 *   handover.so           export_state and import_state
 *   handover_noexport.so  import_state only (HANDOVER_NO_EXPORT)
 *   handover_noimport.so  export_state only (HANDOVER_NO_IMPORT)
 * THIS COMMENT IS THE CONTRACT.
 *
 * Config, [plugins.handover]:
 *   export = "ok" | "fail" | "empty"   export_state writes the state / fails
 *                                      with "export refused" / returns OK
 *                                      without writing (default "ok")
 *   import = "ok" | "fail"             import_state takes the bytes as the
 *                                      state / fails with "import refused"
 *   build  = <integer>                 ignored: changing it makes a new version
 * State: a text, "fresh" after init.
 * export_state logs "exporting <state>" and import_state "importing <bytes>"
 * at info level, so a test sees from the log whether they ran.
 * Message, body B: "set:<text>" -> the state becomes <text>, sends "ok";
 *   anything else -> sends the state.
 */
#include <nitric/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  nitric_host* host;
  const nitric_host_api* api;
  char export_mode[8]; /* "ok", "fail", "empty" */
  char import_mode[8]; /* "ok", "fail" */
  char* text;
  size_t len;
} state;

static nitric_str str_of(const char* s, size_t n) {
  nitric_str out;
  out.ptr = s;
  out.len = n;
  return out;
}

static int set_text(state* st, const char* p, size_t n) {
  char* copy = (char*)malloc(n + 1);
  if (copy == NULL) return 0;
  if (n) memcpy(copy, p, n);
  copy[n] = '\0';
  free(st->text);
  st->text = copy;
  st->len = n;
  return 1;
}

static void log_line(state* st, const char* what, const char* p, size_t n) {
  char line[200];
  const int len = snprintf(line, sizeof line, "%s %.*s", what, (int)(n > 150 ? 150 : n), p);
  if (len > 0) st->api->log(st->host, NITRIC_LOG_INFO, line, (size_t)len);
}

static nitric_status on_message(nitric_event* ev, void* user_data) {
  state* st = (state*)user_data;
  const nitric_host_api* api = st->api;
  const nitric_str body = api->event_message(ev);
  const nitric_str socket = str_of("handover", 8);
  if (body.len >= 4 && memcmp(body.ptr, "set:", 4) == 0) {
    if (!set_text(st, body.ptr + 4, body.len - 4)) return NITRIC_ERR_INTERNAL;
    return api->ws_send(st->host, socket, api->event_connection_id(ev), str_of("ok", 2));
  }
  return api->ws_send(st->host, socket, api->event_connection_id(ev), str_of(st->text, st->len));
}

static void config_mode(nitric_host* host, const nitric_host_api* api, const char* key, char* out,
                        size_t out_size) {
  nitric_config_value v;
  if (api->config_get(host, key, strlen(key), &v) == NITRIC_OK && v.type == NITRIC_CONFIG_STRING &&
      v.string.len < out_size) {
    memcpy(out, v.string.ptr, v.string.len);
    out[v.string.len] = '\0';
  }
}

static void destroy(state* st) {
  if (st == NULL) return;
  free(st->text);
  free(st);
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** plugin_state) {
  state* st = (state*)calloc(1, sizeof(state));
  if (st == NULL) return NITRIC_ERR_INTERNAL;
  st->host = host;
  st->api = api;
  strcpy(st->export_mode, "ok");
  strcpy(st->import_mode, "ok");
  config_mode(host, api, "export", st->export_mode, sizeof st->export_mode);
  config_mode(host, api, "import", st->import_mode, sizeof st->import_mode);
  if (!set_text(st, "fresh", 5) ||
      api->on(host, str_of("handover", 8), NITRIC_ON_MESSAGE, on_message, st) != NITRIC_OK) {
    static const char kWhy[] = "cannot set up the handover plugin";
    api->set_error(host, kWhy, sizeof kWhy - 1);
    destroy(st); /* plugin.h: a failing init frees what it allocated */
    return NITRIC_ERR_HANDLER;
  }
  *plugin_state = st;
  return NITRIC_OK;
}

static void shutdown_plugin(void* plugin_state) { destroy((state*)plugin_state); }

#ifndef HANDOVER_NO_EXPORT
static nitric_status export_state(void* plugin_state, nitric_state_writer_fn write,
                                  void* writer_ctx) {
  state* st = (state*)plugin_state;
  log_line(st, "exporting", st->text, st->len);
  if (strcmp(st->export_mode, "fail") == 0) {
    st->api->set_error(st->host, "export refused", 14);
    return NITRIC_ERR_HANDLER;
  }
  if (strcmp(st->export_mode, "empty") != 0) write(writer_ctx, st->text, st->len);
  return NITRIC_OK;
}
#define EXPORT_STATE export_state
#else
#define EXPORT_STATE NULL
#endif

#ifndef HANDOVER_NO_IMPORT
static nitric_status import_state(void* plugin_state, const char* ptr, size_t len) {
  state* st = (state*)plugin_state;
  log_line(st, "importing", ptr, len);
  if (strcmp(st->import_mode, "fail") == 0) {
    st->api->set_error(st->host, "import refused", 14);
    return NITRIC_ERR_HANDLER;
  }
  return set_text(st, ptr, len) ? NITRIC_OK : NITRIC_ERR_INTERNAL;
}
#define IMPORT_STATE import_state
#else
#define IMPORT_STATE NULL
#endif

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor descriptor = {NITRIC_ABI_MAJOR,
                                                      NITRIC_ABI_MINOR,
                                                      sizeof(nitric_plugin_descriptor),
                                                      "handover",
                                                      "1.0",
                                                      init,
                                                      shutdown_plugin,
                                                      EXPORT_STATE,
                                                      IMPORT_STATE};
  return &descriptor;
}
