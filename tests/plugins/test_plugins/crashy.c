/*
 * crashy: a C test plugin that crashes or hangs on purpose, for the
 * isolation tests (pre-flight and crash quarantine). Like build.c, its
 * behaviour is a patchable marker in .rodata, so the tests make builds that
 * differ in content (a new version for the host) from one .so.
 * THIS COMMENT IS THE CONTRACT.
 *
 * Marker "NITRIC_CRASHY=" followed by one mode letter and three digits (the
 * build number, shown in replies). The built file has "o000".
 * Modes:
 *   o   well behaved
 *   s   init segfaults (writes through a null pointer)
 *   a   init calls abort()
 *   h   init never returns (sleeps forever)
 *   m   the message handler segfaults when the body is "crash"
 * Name: the file stem (descriptor name NULL), so copies can serve side by
 * side under different file names. Socket "crashy".
 * Message, body B: sends "<mode><build> B" to the sender (e.g. "o007 hi").
 */
#include <nitric/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* volatile: read from .rodata at run time, where the patch lands. */
static const volatile char kMarker[] = "NITRIC_CRASHY=o000";
#define MODE_AT 14
#define BUILD_AT 15

typedef struct {
  nitric_host* host;
  const nitric_host_api* api;
} state;

static const char kSocket[] = "crashy";

static char mode(void) { return kMarker[MODE_AT]; }

static nitric_str str_of(const char* s, size_t n) {
  nitric_str out;
  out.ptr = s;
  out.len = n;
  return out;
}

// A real write through a null pointer, so the process dies of SIGSEGV. In a
// sanitizer build UBSan's null check would report the store and abort
// first (SIGABRT); the tests assert SIGSEGV, so that check is off here.
#if defined(__GNUC__)
__attribute__((no_sanitize("undefined")))
#endif
static void segfault(void) {
  volatile int* volatile nowhere = NULL;
  *nowhere = 1;
}

static nitric_status on_message(nitric_event* ev, void* user_data) {
  const state* st = (const state*)user_data;
  const nitric_host_api* api = st->api;
  const nitric_str body = api->event_message(ev);
  char head[8];
  char* out;
  nitric_status s;
  if (mode() == 'm' && body.len == 5 && memcmp(body.ptr, "crash", 5) == 0) segfault();
  head[0] = mode();
  head[1] = kMarker[BUILD_AT];
  head[2] = kMarker[BUILD_AT + 1];
  head[3] = kMarker[BUILD_AT + 2];
  head[4] = ' ';
  out = (char*)malloc(5 + body.len + 1);
  if (out == NULL) return NITRIC_ERR_INTERNAL;
  memcpy(out, head, 5);
  if (body.len) memcpy(out + 5, body.ptr, body.len);
  s = api->ws_send(st->host, str_of(kSocket, sizeof kSocket - 1), api->event_connection_id(ev),
                   str_of(out, 5 + body.len));
  free(out);
  return s;
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** plugin_state) {
  state* st;
  switch (mode()) {
    case 's':
      segfault();
      break;
    case 'a':
      fprintf(stderr, "crashy: aborting in init\n");
      fflush(stderr);
      abort();
    case 'h':
      fprintf(stderr, "crashy: init hangs\n");
      fflush(stderr);
      for (;;) sleep(1000);
    default:
      break;
  }
  st = (state*)calloc(1, sizeof(state));
  if (st == NULL) return NITRIC_ERR_INTERNAL;
  st->host = host;
  st->api = api;
  if (api->on(host, str_of(kSocket, sizeof kSocket - 1), NITRIC_ON_MESSAGE, on_message, st) !=
      NITRIC_OK) {
    free(st);
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
                                                      NULL,
                                                      "1.0",
                                                      init,
                                                      shutdown_plugin,
                                                      NULL,
                                                      NULL};
  return &descriptor;
}
