// The gateway's Origin check. A browser sends an Origin header with every
// websocket upgrade, so without a check any web page open in the developer's
// browser could open ws://127.0.0.1:PORT and talk to their application.
// Non-browser clients send no Origin and are not affected.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nitric::devserver {

// True for the origins of pages served from this machine: http or https with
// host localhost, 127.0.0.1 or [::1], with any port or none
// ("http://localhost:3000", "https://[::1]"). Case-insensitive, as origins
// compare. Anything else (other hosts, paths, "null") is not. Thread-safe.
bool IsLoopbackOrigin(std::string_view origin);

// True when `origin` matches the --allow-origin `pattern`: compared
// case-insensitively, where each '*' stands for any run of characters
// (so "*" matches every origin, "https://*.example.com" a domain's pages).
bool MatchesOriginPattern(std::string_view origin, std::string_view pattern);

// The gateway's rule: a loopback origin, or one matching any of `allowed`.
bool IsOriginAllowed(std::string_view origin, const std::vector<std::string>& allowed);

}  // namespace nitric::devserver
