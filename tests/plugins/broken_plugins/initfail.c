/* Broken on purpose: init fails with a reason. */
#include <nitric/plugin.h>
#include <string.h>

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  static const char kWhy[] = "database url missing";
  (void)state;
  api->declare_websocket(host, (nitric_str){"initfail", 8});
  api->set_error(host, kWhy, strlen(kWhy));
  return NITRIC_ERR_HANDLER;
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {NITRIC_ABI_MAJOR,
                                             NITRIC_ABI_MINOR,
                                             sizeof(nitric_plugin_descriptor),
                                             "initfail",
                                             NULL,
                                             init,
                                             NULL,
                                             NULL,
                                             NULL};
  return &d;
}
