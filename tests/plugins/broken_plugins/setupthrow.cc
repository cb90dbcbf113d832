// Broken on purpose: the C++ setup code throws, so init() fails with the
// exception's text and the host refuses the plugin.
#include <stdexcept>

#include <nitric/plugin.hpp>

NITRIC_PLUGIN("setupthrow", [](nitric::Plugin& p) {
  p.NewWebsocket("setupthrow");
  throw std::runtime_error("config file is corrupt");
});
