/*
 * A C plugin built outside the tree with pkg-config only (tests/install/
 * install_test.sh): echoes every message on socket "installed_c".
 */
#include <nitric/plugin.h>

static const nitric_host_api* g_api;
static nitric_host* g_host;

static nitric_str socket_name(void) {
  nitric_str s;
  s.ptr = "installed_c";
  s.len = sizeof "installed_c" - 1;
  return s;
}

static nitric_status on_message(nitric_event* ev, void* user_data) {
  (void)user_data;
  return g_api->ws_send(g_host, socket_name(), g_api->event_connection_id(ev),
                        g_api->event_message(ev));
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** plugin_state) {
  g_api = api;
  g_host = host;
  *plugin_state = NULL;
  if (api->declare_websocket(host, socket_name()) != NITRIC_OK) return NITRIC_ERR_INTERNAL;
  return api->on(host, socket_name(), NITRIC_ON_MESSAGE, on_message, NULL);
}

static void shutdown_plugin(void* plugin_state) { (void)plugin_state; }

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor descriptor = {NITRIC_ABI_MAJOR,
                                                      NITRIC_ABI_MINOR,
                                                      sizeof(nitric_plugin_descriptor),
                                                      "installed_c",
                                                      "1.0",
                                                      init,
                                                      shutdown_plugin,
                                                      NULL,
                                                      NULL};
  return &descriptor;
}
