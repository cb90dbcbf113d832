// The crash half of the quarantine (host/app/quarantine.h): a handler for
// SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT that, when the dying thread was
// running a plugin's code (host/plugins/plugin_call.h), writes a record
// naming that plugin file (sha256), the call and the time into the state
// folder, then lets the process die of the same signal as it would have
// without the handler (core dump and exit status unchanged, so systemd's
// Restart=on-failure restarts it).
//
// Async-signal safety: the handler only reads the thread-local marker and the
// fixed-size identity it points to, formats into a stack buffer, and uses
// openat/write/fsync/renameat/close on a folder descriptor opened before any
// plugin was loaded, then sigaction and raise. No allocation, no lock, no
// stdio.
#pragma once

#include <string>

#include "host/base/status.h"

namespace nitric::host {

// Installs the handler; the records go into the folder open at `state_dir_fd`
// (kept open, never closed). Call once, before the first plugin is loaded.
// An error when a sigaction fails.
Status InstallCrashRecorder(int state_dir_fd);

// Record files are "<kCrashRecordPrefix><sha256>" in the state folder.
inline constexpr char kCrashRecordPrefix[] = "crash-";

}  // namespace nitric::host
