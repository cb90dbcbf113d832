// A structural check of a plugin file before dlopen.
//
// Why: glibc's dlopen trusts the program headers. A truncated .so (a copy
// still in progress, a full disk) has segments that end past the end of the
// file; dlopen maps them anyway and the first touch of a missing page kills
// the whole host with SIGBUS. Checking the headers against the file size
// first turns that into a refusal with a reason.
//
// The ABI note (plugin.h, NITRIC_ABI_NOTE) is read here too: it lets the
// loader refuse a plugin built for another ABI major before dlopen, when none
// of the plugin's code (constructors included) has run.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "host/base/status.h"

namespace nitric::host {

// OK when `bytes` is a shared object for this machine whose header, program
// headers and segments all lie inside the file; otherwise INVALID_ARGUMENT
// saying why not, e.g. "the file is truncated: segment 2 ends at byte 15000
// of 3000".
Status CheckSharedObject(std::string_view bytes);

// The ABI a plugin file says it was built for.
struct AbiNote {
  uint32_t major = 0;
  uint32_t minor = 0;
};

// The file's NITRIC_ABI_NOTE, found in its PT_NOTE segments; nullopt when it
// has none (a plugin built against plugin.h 1.0) or the note is malformed.
// REQUIRES: CheckSharedObject(bytes) is OK (the program headers and segments
// lie inside `bytes`). Reads only `bytes`: nothing is mapped or run.
std::optional<AbiNote> ReadAbiNote(std::string_view bytes);

}  // namespace nitric::host
