// UTF-8 validation for outgoing websocket data: the gateway sends valid UTF-8
// as a text frame and anything else as a binary frame.
#pragma once

#include <string_view>

namespace nitric::devserver {

// True when `data` is well-formed UTF-8 as RFC 3629 defines it (no overlong
// forms, no surrogates, nothing above U+10FFFF): exactly what a websocket peer
// must accept in a text frame (RFC 6455 section 8.1). Thread-safe.
bool IsValidUtf8(std::string_view data);

}  // namespace nitric::devserver
