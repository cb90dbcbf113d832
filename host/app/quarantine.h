// Crash quarantine (docs/ARCHITECTURE.md#isolation): a plugin file that
// killed the host with a fatal signal while its code was running is refused
// on the next start, by its exact content (sha256), until it is replaced by a
// different build or the record is cleared (`nitric-host quarantine
// --clear`). Every other plugin serves.
//
// The records are small text files "crash-<sha256>" in the state folder,
// written by the dying host (host/app/crash_recorder.h), one line per field:
//   nitric-host crash record 1
//   sha256 <64 hex>   file <name>.so   plugin <name>   event <call>
//   signal SIGSEGV    time <unix seconds>   pid <n>
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "host/app/cli.h"
#include "host/base/status.h"
#include "host/config/config.h"

namespace nitric::host {

struct CrashRecord {
  std::filesystem::path path;  // the record file
  std::string sha256;
  std::string file;    // plugin file name
  std::string plugin;  // plugin name
  std::string event;   // e.g. "message handler"
  std::string signal;  // e.g. "SIGSEGV"
  int64_t time = 0;    // unix seconds
  int64_t pid = 0;
};

// The state folder: --state-dir, else host.state_dir, else the first folder
// of $STATE_DIRECTORY (systemd's StateDirectory=), else ./.nitric-host.
std::filesystem::path ResolveStateDir(const std::optional<std::filesystem::path>& cli,
                                      const std::filesystem::path& configured);

// Creates the folder (mode 0700) if needed and opens it (O_DIRECTORY,
// O_CLOEXEC): the descriptor, or why it cannot.
StatusOr<int> OpenStateDir(const std::filesystem::path& dir);

// Every record in `dir`, in file name order. A folder that does not exist
// has none; an unreadable folder or record adds a line to *problems.
std::vector<CrashRecord> ListCrashRecords(const std::filesystem::path& dir,
                                          std::vector<std::string>* problems);

// Parses a record's text; nullopt when it is not one.
std::optional<CrashRecord> ParseCrashRecord(const std::string& text);

// "crashed the host with SIGSEGV in its message handler at
// 2026-12-02T07:31:02Z (pid 4711)".
std::string DescribeCrash(const CrashRecord& record);

// Non-empty when `sha256` is quarantined in `dir`: why `file_name` is refused
// and what to do about it.
std::string QuarantineRefusal(const std::filesystem::path& dir, const std::string& file_name,
                              const std::string& sha256);

// `nitric-host quarantine --list | --clear [FILE]`: prints to stdout, errors
// to stderr; 0 on success, 1 when --clear FILE matched nothing or a record
// could not be removed.
int RunQuarantineCommand(const CliOptions& cli, const HostConfig& config);

}  // namespace nitric::host
