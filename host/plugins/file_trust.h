// Who may have written the code the host runs, like sshd's StrictModes
// (docs/ARCHITECTURE.md#reload): the plugins folder and every plugin file must not be writable
// by group or others and must be owned by the host's user or root; a symlink
// in the folder is followed only when its target is inside the folder (and
// passes the same checks). Otherwise whoever can write them runs code as the
// host's user.
//
// The checks are made on the opened descriptors (fstat after open with
// O_NOFOLLOW), and the plugin's bytes are read from that same descriptor, so
// nothing can be swapped between the check and the read.
//
// `insecure` (host.insecure_plugins = true): every refusal becomes a warning
// (in *warning) and the file is read anyway.
#pragma once

#include <filesystem>
#include <string>

#include "host/base/status.h"

namespace nitric::host {

// Checks the folder. OK, or FAILED_PRECONDITION naming folder, mode, owner
// and the fix; with `insecure`, OK and *warning set instead.
Status CheckPluginFolder(const std::filesystem::path& folder, bool insecure, std::string* warning);

// Opens folder/name (see above), checks it and reads it whole into *bytes.
// FAILED_PRECONDITION for a refusal (file, mode, owner, fix), UNAVAILABLE
// when it cannot be read.
Status ReadTrustedPluginFile(const std::filesystem::path& folder, const std::string& name,
                             bool insecure, std::string* bytes, std::string* warning);

}  // namespace nitric::host
