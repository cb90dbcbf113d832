/* An "old" plugin: its descriptor is shorter than this ABI's (size ends
 * before shutdown), so the host must not read the fields past `size`, where
 * this file nevertheless stores a shutdown function that logs
 * "olddesc: shutdown must not be called". Socket "olddesc", no handlers. */
#include <nitric/plugin.h>
#include <stddef.h>
#include <string.h>

static nitric_host* g_host;
static const nitric_host_api* g_api;

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  (void)state;
  g_host = host;
  g_api = api;
  return api->declare_websocket(host, (nitric_str){"olddesc", 7});
}

static void must_not_run(void* state) {
  static const char kText[] = "olddesc: shutdown must not be called";
  (void)state;
  g_api->log(g_host, NITRIC_LOG_ERROR, kText, strlen(kText));
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {
      NITRIC_ABI_MAJOR, 0,    offsetof(nitric_plugin_descriptor, shutdown),
      "olddesc",        NULL, init,
      must_not_run,     NULL, NULL};
  return &d;
}
