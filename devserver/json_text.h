// The dev membrane's one JSON string writer, for the documents it writes by
// hand (the gateway's status page, the collector's output).
#pragma once

#include <string>
#include <string_view>

namespace nitric::devserver {

// Appends `text` to `out` as a JSON string literal: quotes, backslashes and
// control characters escaped; other bytes (UTF-8 included) as they are.
void AppendJsonString(std::string_view text, std::string* out);

}  // namespace nitric::devserver
