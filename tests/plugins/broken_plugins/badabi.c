/* Broken on purpose: claims the next ABI major. Its init must never run. */
#include <nitric/plugin.h>
#include <stdlib.h>

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  (void)host;
  (void)api;
  (void)state;
  abort(); /* the host must refuse this plugin before calling anything */
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {NITRIC_ABI_MAJOR + 1,
                                             0,
                                             sizeof(nitric_plugin_descriptor),
                                             "badabi",
                                             NULL,
                                             init,
                                             NULL,
                                             NULL,
                                             NULL};
  return &d;
}
