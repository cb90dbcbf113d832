// Query parameters of a websocket upgrade request, the way the Nitric CLI's
// local gateway reads them (Go's url.ParseQuery): pairs split on '&', '+' and
// %XX decoded, repeated keys kept in arrival order.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nitric::devserver {

using QueryPairs = std::vector<std::pair<std::string, std::string>>;

// Returns the decoded (key, value) pairs of the query part of an HTTP request
// target ("/path?a=1&b=x%20y&a=2"), in arrival order. A pair without '=' has an
// empty value; empty segments ("a=1&&b=2") are skipped. A pair with a
// malformed escape ("%G1", a trailing '%') is dropped, as Go's parser drops it,
// rather than handed on half-decoded. Thread-safe.
//
// A key or value that is not valid UTF-8 once decoded ("?name=%FF") cannot
// be handed to the application as text: then the result is empty and, when
// `error` is given, *error says which parameter (shown as it was sent, bytes
// outside printable ASCII as %XX) and whether its key or its value. *error is
// left empty when the query is fine.
QueryPairs ParseQueryParams(std::string_view target, std::string* error = nullptr);

// Decodes '+' to a space and %XX escapes. False when an escape is malformed.
bool UrlDecode(std::string_view in, std::string* out);

}  // namespace nitric::devserver
