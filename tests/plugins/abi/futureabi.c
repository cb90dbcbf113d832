/* Broken on purpose: its ABI note claims the next major. The host must
 * refuse it from the note alone, before dlopen: its constructor, which
 * would create the file named by $NITRIC_FUTUREABI_TRACE, must never run.
 * The entry symbol is written out by hand (not NITRIC_PLUGIN_ENTRY), so the
 * file carries only this note. */
#include <nitric/plugin.h>
#include <stdio.h>
#include <stdlib.h>

NITRIC_ABI_NOTE(NITRIC_ABI_MAJOR + 1, 0)

__attribute__((constructor)) static void leave_trace(void) {
  const char* path = getenv("NITRIC_FUTUREABI_TRACE");
  if (path != NULL) {
    FILE* f = fopen(path, "w");
    if (f != NULL) {
      fputs("futureabi's constructor ran\n", f);
      fclose(f);
    }
  }
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  (void)host;
  (void)api;
  (void)state;
  abort(); /* the host must refuse this plugin before calling anything */
}

NITRIC_PLUGIN_EXPORT const nitric_plugin_descriptor* nitric_plugin_entry(void) {
  static const nitric_plugin_descriptor d = {.abi_major = NITRIC_ABI_MAJOR + 1,
                                             .abi_minor = 0,
                                             .size = sizeof(nitric_plugin_descriptor),
                                             .name = "futureabi",
                                             .init = init};
  return &d;
}
