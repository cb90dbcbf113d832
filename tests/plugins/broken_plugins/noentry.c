/* Broken on purpose: exports a function, but not nitric_plugin_entry. */
#include <nitric/plugin.h>

NITRIC_PLUGIN_EXPORT int not_the_entry(void);
NITRIC_PLUGIN_EXPORT int not_the_entry(void) { return 42; }
