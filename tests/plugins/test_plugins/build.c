/*
 * build: a C test plugin that says which build of it answered. The reload
 * tests make many builds of it by patching the digits of kBuild in copies of
 * build.so, so every copy has different content (a new version for the host)
 * and its own build number. THIS COMMENT IS THE CONTRACT.
 *
 * Name "build", socket "build". No config, no state hand-over.
 * Connect: accepted.
 * Message, body B: sends "<build number> B" to the sender, the number in
 *   decimal without leading zeros.
 * Disconnect: logs "build <n>: disconnect <connection id>" at info level, so
 *   a test can tell from the host's log that a client went away.
 */
#include <nitric/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The patch marker: a test finds "NITRIC_TEST_BUILD=" in the file and
 * overwrites the six digits after it. volatile, so the compiler cannot fold
 * the digits into the code: they are read from .rodata at run time, which is
 * where the patch lands. */
static const volatile char kBuild[] = "NITRIC_TEST_BUILD=000000";
#define BUILD_DIGITS_AT 18
#define BUILD_DIGITS 6

typedef struct {
  nitric_host* host;
  const nitric_host_api* api;
  unsigned long build;
} state;

static const char kSocket[] = "build";

static nitric_str str_of(const char* s, size_t n) {
  nitric_str out;
  out.ptr = s;
  out.len = n;
  return out;
}

static unsigned long read_build(void) {
  unsigned long n = 0;
  int i;
  for (i = 0; i < BUILD_DIGITS; ++i) {
    const char c = kBuild[BUILD_DIGITS_AT + i];
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (unsigned long)(c - '0');
  }
  return n;
}

static nitric_status on_message(nitric_event* ev, void* user_data) {
  const state* st = (const state*)user_data;
  const nitric_host_api* api = st->api;
  const nitric_str body = api->event_message(ev);
  char head[32];
  char* out;
  int head_len = snprintf(head, sizeof head, "%lu ", st->build);
  nitric_status s;
  if (head_len < 0) return NITRIC_ERR_INTERNAL;
  out = (char*)malloc((size_t)head_len + body.len + 1);
  if (out == NULL) return NITRIC_ERR_INTERNAL;
  memcpy(out, head, (size_t)head_len);
  if (body.len) memcpy(out + head_len, body.ptr, body.len);
  s = api->ws_send(st->host, str_of(kSocket, sizeof kSocket - 1), api->event_connection_id(ev),
                   str_of(out, (size_t)head_len + body.len));
  free(out);
  return s;
}

static nitric_status on_disconnect(nitric_event* ev, void* user_data) {
  const state* st = (const state*)user_data;
  const nitric_str id = st->api->event_connection_id(ev);
  char line[160];
  const int n = snprintf(line, sizeof line, "build %lu: disconnect %.*s", st->build,
                         (int)(id.len > 100 ? 100 : id.len), id.ptr);
  if (n > 0) {
    st->api->log(st->host, NITRIC_LOG_INFO, line,
                 (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  }
  return NITRIC_OK;
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** plugin_state) {
  state* st = (state*)calloc(1, sizeof(state));
  const nitric_str sock = str_of(kSocket, sizeof kSocket - 1);
  if (st == NULL) return NITRIC_ERR_INTERNAL;
  st->host = host;
  st->api = api;
  st->build = read_build();
  if (api->on(host, sock, NITRIC_ON_MESSAGE, on_message, st) != NITRIC_OK ||
      api->on(host, sock, NITRIC_ON_DISCONNECT, on_disconnect, st) != NITRIC_OK) {
    static const char kWhy[] = "cannot register the build socket's handlers";
    api->set_error(host, kWhy, sizeof kWhy - 1);
    free(st); /* plugin.h: a failing init frees what it allocated */
    return NITRIC_ERR_HANDLER;
  }
  *plugin_state = st;
  return NITRIC_OK;
}

static void shutdown_plugin(void* plugin_state) { free(plugin_state); }

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor descriptor = {NITRIC_ABI_MAJOR,
                                                      NITRIC_ABI_MINOR,
                                                      sizeof(nitric_plugin_descriptor),
                                                      "build",
                                                      "1.0",
                                                      init,
                                                      shutdown_plugin,
                                                      NULL,
                                                      NULL};
  return &descriptor;
}
