#include "host/app/quarantine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "host/app/crash_recorder.h"

namespace nitric::host {
namespace fs = std::filesystem;

namespace {

constexpr char kHeader[] = "nitric-host crash record 1";

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string IsoTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

fs::path ResolveStateDir(const std::optional<fs::path>& cli, const fs::path& configured) {
  if (cli && !cli->empty()) return *cli;
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("STATE_DIRECTORY"); env != nullptr && *env != '\0') {
    // systemd lists one folder per StateDirectory= entry, separated by ':'.
    std::string first(env);
    if (const size_t colon = first.find(':'); colon != std::string::npos) first.resize(colon);
    if (!first.empty()) return first;
  }
  return ".nitric-host";
}

StatusOr<int> OpenStateDir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return Status(NITRIC_ERR_INTERNAL, fmt::format("cannot create the state folder {}: {}",
                                                     dir.string(), ec.message()));
    }
    ::chmod(dir.c_str(), 0700);  // only the host reads and writes its records
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status(NITRIC_ERR_INTERNAL, fmt::format("cannot open the state folder {}: {}",
                                                   dir.string(), std::strerror(errno)));
  }
  return fd;
}

std::optional<CrashRecord> ParseCrashRecord(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) return std::nullopt;
  CrashRecord r;
  while (std::getline(in, line)) {
    const size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string key = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    if (key == "sha256") r.sha256 = value;
    if (key == "file") r.file = value;
    if (key == "plugin") r.plugin = value;
    if (key == "event") r.event = value;
    if (key == "signal") r.signal = value;
    if (key == "time") r.time = std::strtoll(value.c_str(), nullptr, 10);
    if (key == "pid") r.pid = std::strtoll(value.c_str(), nullptr, 10);
  }
  if (!IsHex64(r.sha256)) return std::nullopt;
  return r;
}

std::vector<CrashRecord> ListCrashRecords(const fs::path& dir, std::vector<std::string>* problems) {
  std::vector<CrashRecord> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    problems->push_back(
        fmt::format("cannot read the state folder {}: {}", dir.string(), ec.message()));
    return out;
  }
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kCrashRecordPrefix, 0) != 0 || name.find(".tmp.") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::optional<CrashRecord> record = ParseCrashRecord(text);
    if (!record) {
      problems->push_back(
          fmt::format("{} is not a crash record; remove it", entry.path().string()));
      continue;
    }
    record->path = entry.path();
    out.push_back(std::move(*record));
  }
  std::sort(out.begin(), out.end(),
            [](const CrashRecord& a, const CrashRecord& b) { return a.path < b.path; });
  return out;
}

std::string DescribeCrash(const CrashRecord& r) {
  return fmt::format("crashed the host with {} in its {} at {} (pid {})", r.signal, r.event,
                     IsoTime(r.time), r.pid);
}

std::string QuarantineRefusal(const fs::path& dir, const std::string& file_name,
                              const std::string& sha256) {
  std::error_code ec;
  const fs::path path = dir / (std::string(kCrashRecordPrefix) + sha256);
  if (!fs::exists(path, ec)) return {};
  std::vector<std::string> ignored;
  for (const CrashRecord& r : ListCrashRecords(dir, &ignored)) {
    if (r.sha256 != sha256) continue;
    return fmt::format(
        "plugin {} is quarantined: this exact file (sha256 {}) {}; install a fixed build, or run "
        "`nitric-host quarantine --clear {}` to try it again",
        file_name, sha256, DescribeCrash(r), file_name);
  }
  return {};
}

int RunQuarantineCommand(const CliOptions& cli, const HostConfig& config) {
  const fs::path dir = ResolveStateDir(cli.state_dir, config.state_dir);
  std::vector<std::string> problems;
  const std::vector<CrashRecord> records = ListCrashRecords(dir, &problems);
  for (const std::string& p : problems) std::fprintf(stderr, "nitric-host: %s\n", p.c_str());

  if (cli.quarantine_list) {
    if (records.empty()) {
      std::printf("no quarantined plugin file in %s\n", dir.string().c_str());
    }
    for (const CrashRecord& r : records) {
      std::printf("%s  sha256 %s  plugin %s: %s\n", r.file.c_str(), r.sha256.c_str(),
                  r.plugin.c_str(), DescribeCrash(r).c_str());
    }
    return problems.empty() ? 0 : 1;
  }

  // --clear [FILE]: FILE is a plugin file (matched by its file name, so
  // "plugins/echo.so" and "echo.so" both do) or a sha256 (or its first 8+
  // hex digits, as --list shows it).
  const std::string& want = cli.quarantine_clear_file;
  const std::string want_name = want.empty() ? "" : fs::path(want).filename().string();
  size_t cleared = 0;
  int code = 0;
  for (const CrashRecord& r : records) {
    const bool match =
        want.empty() || r.file == want_name || (want.size() >= 8 && r.sha256.rfind(want, 0) == 0);
    if (!match) continue;
    std::error_code ec;
    if (!fs::remove(r.path, ec) || ec) {
      std::fprintf(stderr, "nitric-host: cannot remove %s: %s\n", r.path.string().c_str(),
                   ec.message().c_str());
      code = 1;
      continue;
    }
    ++cleared;
    std::printf("cleared %s (sha256 %s): it will be loaded again on the next start or reload\n",
                r.file.c_str(), r.sha256.c_str());
  }
  if (!want.empty() && cleared == 0 && code == 0) {
    std::fprintf(stderr, "nitric-host: no quarantine record for %s in %s (see quarantine --list)\n",
                 want.c_str(), dir.string().c_str());
    return 1;
  }
  if (want.empty() && cleared == 0)
    std::printf("no quarantined plugin file in %s\n", dir.string().c_str());
  return code;
}

}  // namespace nitric::host
