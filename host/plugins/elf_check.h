// A structural check of a plugin file before dlopen.
//
// Why: glibc's dlopen trusts the program headers. A truncated .so (a copy
// still in progress, a full disk) has segments that end past the end of the
// file; dlopen maps them anyway and the first touch of a missing page kills
// the whole host with SIGBUS. Checking the headers against the file size
// first turns that into a refusal with a reason.
#pragma once

#include <string_view>

#include "host/base/status.h"

namespace nitric::host {

// OK when `bytes` is a shared object for this machine whose header, program
// headers and segments all lie inside the file; otherwise INVALID_ARGUMENT
// saying why not, e.g. "the file is truncated: segment 2 ends at byte 15000
// of 3000".
Status CheckSharedObject(std::string_view bytes);

}  // namespace nitric::host
