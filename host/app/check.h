// `nitric-host --check`: loads and initialises every plugin of the folder
// with no membrane at all, prints what each declares and handles (stdout),
// shuts them down, and says through the exit code whether all loaded.
#pragma once

#include "host/config/config.h"

namespace nitric::host {

// 0 when every plugin loaded (an empty folder included), 1 when any plugin
// was refused or the folder cannot be read.
int RunCheck(const HostConfig& config);

}  // namespace nitric::host
