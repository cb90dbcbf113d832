// config_get(): reads one value of a plugin's config table by path.
#pragma once

#include <string_view>

#include <nitric/plugin.h>
#include <toml++/toml.h>

#include "host/base/status.h"

namespace nitric::host {

// Looks `path` up in `table`: "key", "table.key", "array[2]", "a.b[1].c";
// "" is the table itself. A missing key (or a malformed path) gives OK with
// type NITRIC_CONFIG_NONE. Strings point into `table`, so they live as long
// as it does. A date or time value is INVALID_ARGUMENT saying so.
Status LookupConfig(const toml::table& table, std::string_view path, nitric_config_value* out);

}  // namespace nitric::host
