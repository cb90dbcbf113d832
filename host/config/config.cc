#include "host/config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace nitric::host {

namespace {

// "file:line:col" of a node or key, for messages an operator can act on.
std::string Where(const std::filesystem::path& file, const toml::source_region& region) {
  std::ostringstream out;
  out << file.string();
  if (region.begin.line != 0) out << ':' << region.begin.line << ':' << region.begin.column;
  return out.str();
}

std::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

// Walks the parsed document once. Each known key has a reader below; the
// first error stops the walk (the host will not start anyway), warnings
// accumulate.
class ConfigReader {
 public:
  ConfigReader(const std::filesystem::path& source, ConfigResult* result)
      : source_(source), result_(result) {}

  bool Read(toml::table& root) {
    for (auto&& [key, node] : root) {
      const std::string name(key.str());
      if (name == "membrane") {
        if (!Section(name, node, &ConfigReader::MembraneKey)) return false;
      } else if (name == "host") {
        if (!Section(name, node, &ConfigReader::HostKey)) return false;
      } else if (name == "log") {
        if (!Section(name, node, &ConfigReader::LogKey)) return false;
      } else if (name == "admin") {
        if (!Section(name, node, &ConfigReader::AdminKey)) return false;
      } else if (name == "plugins") {
        if (!Plugins(node)) return false;
      } else {
        Unknown(name, key.source());
      }
    }
    FinishPool();
    return FinishAdmin();
  }

 private:
  using KeyReader = bool (ConfigReader::*)(const std::string& path, const toml::key& key,
                                           toml::node& node);

  bool Section(const std::string& name, toml::node& node, KeyReader reader) {
    toml::table* table = node.as_table();
    if (table == nullptr) return TypeError(name, node, "a table");
    for (auto&& [key, value] : *table) {
      const std::string path = name + "." + std::string(key.str());
      if (!(this->*reader)(path, key, value)) return false;
    }
    return true;
  }

  bool MembraneKey(const std::string& path, const toml::key& key, toml::node& node) {
    HostConfig& c = result_->config;
    if (key == "address") return NonEmptyString(path, node, &c.membrane_address);
    if (key == "service_name") return NonEmptyString(path, node, &c.service_name);
    if (key == "timeout_ms") {
      int64_t ms = 0;
      if (!Integer(path, node, 1, 3'600'000, &ms)) return false;
      c.call_timeout = std::chrono::milliseconds(ms);
      return true;
    }
    Unknown(path, key.source());
    return true;
  }

  bool HostKey(const std::string& path, const toml::key& key, toml::node& node) {
    HostConfig& c = result_->config;
    if (key == "plugins_dir") {
      std::string dir;
      if (!NonEmptyString(path, node, &dir)) return false;
      std::filesystem::path p(dir);
      c.plugins_dir = p.is_absolute() ? p : source_.parent_path() / p;
      return true;
    }
    if (key == "workers") {
      int64_t n = 0;
      if (!Integer(path, node, 0, 1024, &n)) return false;
      c.workers = n == 0 ? HostConfig::DefaultWorkers() : static_cast<int>(n);
      return true;
    }
    if (key == "max_workers") {
      int64_t n = 0;
      if (!Integer(path, node, 1, 4096, &n)) return false;
      c.max_workers = static_cast<int>(n);
      max_workers_set_ = true;
      return true;
    }
    if (key == "handler_timeout_ms") {
      int64_t ms = 0;
      if (!Integer(path, node, 0, 86'400'000, &ms)) return false;
      c.handler_timeout = std::chrono::milliseconds(ms);
      return true;
    }
    if (key == "max_queued_events_per_connection") {
      int64_t n = 0;
      if (!Integer(path, node, 1, 1'000'000, &n)) return false;
      c.max_queued_events_per_connection = static_cast<int>(n);
      return true;
    }
    if (key == "shutdown_timeout_ms") {
      int64_t ms = 0;
      if (!Integer(path, node, 1, 86'400'000, &ms)) return false;
      c.shutdown_timeout = std::chrono::milliseconds(ms);
      return true;
    }
    if (key == "watch") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.watch = node.as_boolean()->get();
      return true;
    }
    if (key == "inline_handlers") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.inline_handlers = node.as_boolean()->get();
      return true;
    }
    if (key == "pipelined_sends") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.pipelined_sends = node.as_boolean()->get();
      return true;
    }
    if (key == "preflight") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.preflight = node.as_boolean()->get();
      return true;
    }
    if (key == "preflight_timeout_ms") {
      int64_t ms = 0;
      if (!Integer(path, node, 1, 3600000, &ms)) return false;
      c.preflight_timeout = std::chrono::milliseconds(ms);
      return true;
    }
    if (key == "insecure_plugins") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.insecure_plugins = node.as_boolean()->get();
      return true;
    }
    if (key == "state_dir") {
      std::string dir;
      if (!NonEmptyString(path, node, &dir)) return false;
      std::filesystem::path p(dir);
      c.state_dir = p.is_absolute() ? p : source_.parent_path() / p;
      return true;
    }
    if (key == "pid_file") {
      std::string file;
      if (!NonEmptyString(path, node, &file)) return false;
      std::filesystem::path p(file);
      c.pid_file = p.is_absolute() ? p : source_.parent_path() / p;
      return true;
    }
    Unknown(path, key.source());
    return true;
  }

  bool LogKey(const std::string& path, const toml::key& key, toml::node& node) {
    HostConfig& c = result_->config;
    if (key == "level") {
      std::string name;
      if (!NonEmptyString(path, node, &name)) return false;
      auto level = ParseLogLevel(name);
      if (!level) {
        return ValueError(
            path, node,
            "expected one of trace, debug, info, warn, error, critical, off; got \"" + name + "\"");
      }
      c.log_level = *level;
      return true;
    }
    if (key == "format") {
      std::string name;
      if (!NonEmptyString(path, node, &name)) return false;
      auto format = ParseLogFormat(name);
      if (!format) return ValueError(path, node, "expected text or json; got \"" + name + "\"");
      c.log_format = *format;
      return true;
    }
    Unknown(path, key.source());
    return true;
  }

  bool AdminKey(const std::string& path, const toml::key& key, toml::node& node) {
    HostConfig& c = result_->config;
    if (key == "listen") {
      std::string text;
      if (!NonEmptyString(path, node, &text)) return false;
      StatusOr<ListenAddress> parsed = ParseListenAddress(text);
      if (!parsed.ok()) return ValueError(path, node, parsed.status().message());
      c.admin_listen = text;
      listen_node_ = &node;
      return true;
    }
    if (key == "allow_remote") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.admin_allow_remote = node.as_boolean()->get();
      return true;
    }
    if (key == "allow_reload") {
      if (!node.is_boolean()) return TypeError(path, node, "a boolean");
      c.admin_allow_reload = node.as_boolean()->get();
      return true;
    }
    Unknown(path, key.source());
    return true;
  }

  // admin.listen off loopback needs admin.allow_remote (which may come after
  // it in the file).
  bool FinishAdmin() {
    if (listen_node_ == nullptr) return true;
    Status checked = CheckAdminConfig(result_->config, "");
    if (checked.ok()) return true;
    return ValueError("admin.listen", *listen_node_, checked.message());
  }

  // host.max_workers below host.workers (or below the automatic size): the
  // pool never shrinks under its base, so the base wins, with a warning when
  // the file asked for both.
  void FinishPool() {
    HostConfig& c = result_->config;
    if (c.max_workers >= c.workers) return;
    if (max_workers_set_) {
      result_->warnings.push_back(source_.string() + ": host.max_workers (" +
                                  std::to_string(c.max_workers) + ") is below host.workers (" +
                                  std::to_string(c.workers) + "); using " +
                                  std::to_string(c.workers) + " for both");
    }
    c.max_workers = c.workers;
  }

  // [plugins.<name>] tables are the plugins' own business: only their shape
  // is checked here.
  bool Plugins(toml::node& node) {
    toml::table* table = node.as_table();
    if (table == nullptr) return TypeError("plugins", node, "a table");
    for (auto&& [key, value] : *table) {
      const std::string path = "plugins." + std::string(key.str());
      if (!value.is_table()) return TypeError(path, value, "a table");
    }
    result_->config.plugins = std::move(*table);
    return true;
  }

  bool NonEmptyString(const std::string& path, toml::node& node, std::string* out) {
    if (!node.is_string()) return TypeError(path, node, "a string");
    const std::string& s = node.as_string()->get();
    if (s.empty()) return ValueError(path, node, "must not be empty");
    *out = s;
    return true;
  }

  bool Integer(const std::string& path, toml::node& node, int64_t min, int64_t max, int64_t* out) {
    if (!node.is_integer()) return TypeError(path, node, "an integer");
    const int64_t v = node.as_integer()->get();
    if (v < min || v > max) {
      return ValueError(path, node,
                        "expected " + std::to_string(min) + ".." + std::to_string(max) + "; got " +
                            std::to_string(v));
    }
    *out = v;
    return true;
  }

  bool TypeError(const std::string& path, const toml::node& node, std::string_view expected) {
    return ValueError(
        path, node,
        "expected " + std::string(expected) + ", got " + std::string(TypeName(node.type())));
  }

  bool ValueError(const std::string& path, const toml::node& node, const std::string& what) {
    result_->status = Status(NITRIC_ERR_INVALID_ARGUMENT,
                             Where(source_, node.source()) + ": " + path + ": " + what);
    return false;
  }

  void Unknown(const std::string& path, const toml::source_region& where) {
    result_->warnings.push_back(Where(source_, where) + ": unknown key " + path + " (ignored)");
  }

  const std::filesystem::path& source_;
  ConfigResult* result_;
  bool max_workers_set_ = false;
  const toml::node* listen_node_ = nullptr;  // admin.listen, for its position
};

}  // namespace

int HostConfig::DefaultWorkers() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(4, 2 * cores);
}

ConfigResult ParseConfig(std::string_view text, const std::filesystem::path& source) {
  ConfigResult result;
  result.config.source = source;
  try {
    toml::table root = toml::parse(text, source.string());
    ConfigReader reader(source, &result);
    reader.Read(root);  // the first error is in result.status
  } catch (const toml::parse_error& e) {
    result.status = Status(NITRIC_ERR_INVALID_ARGUMENT,
                           Where(source, e.source()) + ": " + std::string(e.description()));
  }
  return result;
}

ConfigResult LoadConfig(const std::optional<std::filesystem::path>& file) {
  if (!file) return ConfigResult();
  std::ifstream in(*file, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(*file, ec)) {
    ConfigResult result;
    result.status = Status(
        NITRIC_ERR_NOT_FOUND,
        file->string() + ": cannot read config file (" +
            (std::filesystem::exists(*file, ec) ? "not a readable file" : "no such file") + ")");
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), *file);
}

void ApplyEnvironment(HostConfig* config) {
  const char* address = std::getenv("SERVICE_ADDRESS");
  if (address != nullptr && *address != '\0') config->membrane_address = address;
}

StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [&] {
    return Status(NITRIC_ERR_INVALID_ARGUMENT,
                  "expected ADDRESS:PORT with a numeric IPv4 address or a bracketed IPv6 one "
                  "(e.g. 127.0.0.1:9464 or [::1]:9464); got \"" +
                      std::string(text) + "\"");
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return bad();
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return bad();
  }
  ListenAddress address;
  address.port = static_cast<uint16_t>(port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    address.host = std::string(host.substr(1, host.size() - 2));
    in6_addr v6;
    if (inet_pton(AF_INET6, address.host.c_str(), &v6) != 1) return bad();
    static const in6_addr kLoopback = IN6ADDR_LOOPBACK_INIT;
    const bool mapped_v4_loopback = IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
    address.loopback = IN6_ARE_ADDR_EQUAL(&v6, &kLoopback) || mapped_v4_loopback;
    return address;
  }
  address.host = std::string(host);
  in_addr v4;
  if (inet_pton(AF_INET, address.host.c_str(), &v4) != 1) return bad();
  address.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  return address;
}

Status CheckAdminConfig(const HostConfig& config, std::string_view origin) {
  if (config.admin_listen.empty()) return Status();
  const std::string prefix = origin.empty() ? std::string() : std::string(origin) + " ";
  StatusOr<ListenAddress> address = ParseListenAddress(config.admin_listen);
  if (!address.ok()) {
    return Status(NITRIC_ERR_INVALID_ARGUMENT, prefix + address.status().message());
  }
  if (!address->loopback && !config.admin_allow_remote) {
    return Status(NITRIC_ERR_INVALID_ARGUMENT,
                  prefix + config.admin_listen +
                      " is not a loopback address: the admin endpoints (metrics, status, "
                      "reload) would be reachable from other machines; set [admin] "
                      "allow_remote = true to allow it");
  }
  return Status();
}

std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  using spdlog::level::level_enum;
  if (name == "trace") return level_enum::trace;
  if (name == "debug") return level_enum::debug;
  if (name == "info") return level_enum::info;
  if (name == "warn" || name == "warning") return level_enum::warn;
  if (name == "error") return level_enum::err;
  if (name == "critical") return level_enum::critical;
  if (name == "off") return level_enum::off;
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

}  // namespace nitric::host
