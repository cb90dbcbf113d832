#include "host/plugins/plugin_instance.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

// Boost.DLL over std::filesystem (no Boost.Filesystem paths in our code).
#define BOOST_DLL_USE_STD_FS 1
#include <fmt/format.h>
#include <boost/dll/shared_library.hpp>

#include "host/base/poller.h"
#include "host/plugins/elf_check.h"
#include "host/plugins/sha256.h"

namespace nitric::host {
namespace {

namespace fs = std::filesystem;

// Whether the plugin's descriptor (built against some ABI 1.x) has `field`.
#define NITRIC_DESCRIPTOR_HAS(d, field) \
  ((d)->size >= offsetof(nitric_plugin_descriptor, field) + sizeof((d)->field))

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// dlopen's reason, without the staged path it starts with (the user knows
// the plugin by its own file name, which the caller puts in the message).
std::string DlopenReason(const fs::path& staged, const std::string& fallback) {
  const char* err = ::dlerror();  // Boost.DLL leaves it set on failure
  std::string text = err != nullptr ? err : fallback;
  const std::string prefix = staged.string() + ": ";
  if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
  return text;
}

void AppendState(void* writer_ctx, const char* ptr, size_t len) {
  auto* out = static_cast<std::pair<std::string, bool>*>(writer_ctx);
  out->second = true;
  if (ptr != nullptr && len != 0) out->first.append(ptr, len);
}

std::string PermissionText(uint32_t allow) {
  std::string out;
  for (uint32_t bit : {NITRIC_KV_GET, NITRIC_KV_SET, NITRIC_KV_DELETE}) {
    if ((allow & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += nitric_kv_permission_name(bit);
  }
  return out.empty() ? "none" : out;
}

// A plugin file this host cannot use as it is.
Status Refuse(std::string why) { return Status(NITRIC_ERR_INVALID_ARGUMENT, std::move(why)); }

}  // namespace

StatusOr<std::shared_ptr<PluginInstance>> PluginInstance::Load(const PluginFile& file,
                                                               const PluginLoadContext& ctx) {
  const std::string file_name = file.path.filename().string();
  std::string stem = file.path.stem().string();
  if (!ValidName(stem)) stem = "plugin";  // only used for the staged name here

  std::shared_ptr<PluginInstance> self(new PluginInstance());
  self->staging_ = ctx.staging;
  self->hash_ = file.hash;
  self->handoff_timeout_ = ctx.handoff_timeout;
  self->host_ = std::make_unique<nitric_host>();
  self->host_->file_name = file_name;
  self->host_->plugin_name = file.path.stem().string();
  self->host_->membrane = ctx.membrane;
  self->library_ = std::make_unique<boost::dll::shared_library>();
  self->identity_ = std::make_unique<PluginIdentity>();
  self->identity_->Set(file_name, self->host_->plugin_name,
                       file.sha256.empty() ? Sha256Hex(file.bytes) : file.sha256);
  const PluginIdentity* identity = self->identity_.get();

  // 0. A structural check: dlopen of a truncated file would SIGBUS the host.
  if (Status elf = CheckSharedObject(file.bytes); !elf.ok()) {
    return Refuse(fmt::format("plugin {} is not a shared object: {}", file_name, elf.message()));
  }
  // The ABI note, read from the file: another major is refused before
  // dlopen runs any of the plugin's code (its constructors included).
  if (std::optional<AbiNote> note = ReadAbiNote(file.bytes); !note.has_value()) {
    ctx.logger->info(
        "plugin {} has no ABI note (built against plugin.h 1.0): its ABI is checked after "
        "dlopen, once its constructors have run; rebuild it to have it checked first",
        file_name);
  } else if (note->major != NITRIC_ABI_MAJOR) {
    return Refuse(fmt::format(
        "plugin {} was built for ABI {}.{} (its ELF note says so), this host speaks ABI {}.{}: "
        "rebuild it against this host's plugin.h; none of its code was run",
        file_name, note->major, note->minor, NITRIC_ABI_MAJOR, NITRIC_ABI_MINOR));
  }

  // 1. Stage: the host never maps a file of the plugins folder.
  StatusOr<fs::path> staged = ctx.staging->Stage(stem, file.hash, file.bytes);
  if (!staged.ok()) {
    return Status(staged.status().code(), fmt::format("plugin {} cannot be staged: {}", file_name,
                                                      staged.status().message()));
  }
  self->staged_path_ = staged.value();

  // 2. dlopen. RTLD_LOCAL keeps its symbols away from other plugins; RTLD_NOW
  // finds a missing symbol now rather than in the middle of an event.
  std::error_code ec;
  {
    PluginCallScope running(identity, PluginCall::kLoad);  // its constructors run here
    self->library_->load(self->staged_path_, ec,
                         boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  }
  if (ec) {
    return Refuse(fmt::format("plugin {} cannot be loaded: {}", file_name,
                              DlopenReason(self->staged_path_, ec.message())));
  }

  // 3. The entry symbol, and the ABI check before anything else runs.
  if (!self->library_->has(NITRIC_PLUGIN_ENTRY_SYMBOL)) {
    return Refuse(
        fmt::format("plugin {} has no entry symbol {}: define it with NITRIC_PLUGIN(...) (C++) or "
                    "NITRIC_PLUGIN_ENTRY (C)",
                    file_name, NITRIC_PLUGIN_ENTRY_SYMBOL));
  }
  auto entry = self->library_->get<const nitric_plugin_descriptor*()>(NITRIC_PLUGIN_ENTRY_SYMBOL);
  const nitric_plugin_descriptor* desc = nullptr;
  {
    PluginCallScope running(identity, PluginCall::kEntry);
    desc = entry();
  }
  if (desc == nullptr) {
    return Refuse(
        fmt::format("plugin {}: {} returned no descriptor", file_name, NITRIC_PLUGIN_ENTRY_SYMBOL));
  }
  if (desc->abi_major != NITRIC_ABI_MAJOR) {
    return Refuse(fmt::format(
        "plugin {} was built for ABI {}, this host speaks ABI {}: rebuild it against this "
        "host's plugin.h",
        file_name, desc->abi_major, NITRIC_ABI_MAJOR));
  }
  if (!NITRIC_DESCRIPTOR_HAS(desc, init) || desc->init == nullptr) {
    return Refuse(fmt::format("plugin {} has no init function in its descriptor", file_name));
  }
  if (desc->name != nullptr) {
    if (!ValidName(desc->name)) {
      return Refuse(
          fmt::format("plugin {} has an invalid name '{}': use letters, digits, '_' and '-'",
                      file_name, desc->name));
    }
    self->host_->plugin_name = desc->name;
    self->identity_->Set(file_name, self->host_->plugin_name, self->identity_->sha256);
  } else if (!ValidName(self->host_->plugin_name)) {
    return Refuse(fmt::format(
        "plugin {} needs a name: rename the file to letters, digits, '_' and '-', or set the "
        "descriptor's name",
        file_name));
  }
  if (desc->version != nullptr) self->version_ = desc->version;
  self->host_->abi_minor = desc->abi_minor;
  // Optional callbacks exist only if the plugin's descriptor is long enough.
  if (NITRIC_DESCRIPTOR_HAS(desc, shutdown)) self->shutdown_ = desc->shutdown;
  if (NITRIC_DESCRIPTOR_HAS(desc, export_state)) self->export_state_ = desc->export_state;
  if (NITRIC_DESCRIPTOR_HAS(desc, import_state)) self->import_state_ = desc->import_state;

  // 4. init(), with the plugin's config and logger.
  nitric_host& host = *self->host_;
  if (ctx.configs != nullptr) {
    if (const toml::node* node = ctx.configs->get(host.plugin_name); node != nullptr) {
      if (const toml::table* table = node->as_table(); table != nullptr) host.config = *table;
    }
  }
  host.logger = ctx.logger->clone(host.plugin_name);
  host.init_thread = std::this_thread::get_id();  // declarations only from here
  ClearCallError();
  nitric_status st = NITRIC_ERR_INTERNAL;
  try {
    PluginCallScope running(identity, PluginCall::kInit);
    st = desc->init(self->host_.get(), HostApi(), &self->plugin_state_);
  } catch (...) {
    st = NITRIC_ERR_INTERNAL;
    SetCallError("a C++ exception escaped init()");
  }
  if (st != NITRIC_OK) {
    // The plugin freed what it allocated; forget its registrations and never
    // call its shutdown (plugin.h, init).
    self->shutdown_ = nullptr;
    self->export_state_ = nullptr;
    self->plugin_state_ = nullptr;
    const std::string& why = CallError();
    return Status(st, fmt::format("plugin {} failed to initialise ({}): {}", file_name,
                                  nitric_status_name(st), why.empty() ? "no reason given" : why));
  }
  host.phase.store(nitric_host::kServing, std::memory_order_release);

  Declarations& d = self->declarations_;
  d.sockets.insert(host.sockets.begin(), host.sockets.end());
  for (const HandlerRegistration& reg : host.registrations) d.sockets.insert(reg.socket);
  for (const std::string& socket : d.sockets) d.socket_users[socket].insert(host.plugin_name);
  for (const auto& [store, allow] : host.stores) {
    d.stores[store] |= allow;
    d.store_users[store].insert(host.plugin_name);
  }
  return self;
}

PluginInstance::~PluginInstance() {
  // Every early return of Load() ends here too: a refused plugin is closed and
  // its staged copy deleted the same way.
  std::shared_ptr<PluginInstance> successor;
  {
    MutexLock lock(&successor_mu_);
    successor = std::move(successor_);
  }
  try {
    if (successor != nullptr) {
      std::string bytes;
      const bool exported = ExportState(&bytes);
      successor->ReceiveState(exported ? &bytes : nullptr);
    }
    if (shutdown_ != nullptr) {
      ClearCallError();
      PluginCallScope running(identity_.get(), PluginCall::kShutdown);
      shutdown_(plugin_state_);
    }
  } catch (...) {
    if (host_ != nullptr && host_->logger != nullptr) {
      host_->logger->error("an exception escaped the plugin's shutdown or state export");
    }
  }
  plugin_state_ = nullptr;
  // Drop every pointer into the plugin before its code goes away.
  if (host_ != nullptr) host_->registrations.clear();
  if (library_ != nullptr) {
    PluginCallScope running(identity_.get(), PluginCall::kUnload);  // its destructors run here
    library_->unload();                                             // dlclose
  }
  library_.reset();
  if (!staged_path_.empty()) ::unlink(staged_path_.c_str());
}

bool PluginInstance::ExportState(std::string* bytes) {
  if (export_state_ == nullptr) return false;
  std::pair<std::string, bool> out;
  ClearCallError();
  nitric_status st;
  {
    PluginCallScope running(identity_.get(), PluginCall::kExport);
    st = export_state_(plugin_state_, &AppendState, &out);
  }
  if (st != NITRIC_OK) {
    host_->logger->error("export_state failed ({}): {}; the new version starts without state",
                         nitric_status_name(st), CallError());
    return false;
  }
  *bytes = std::move(out.first);
  return out.second;
}

void PluginInstance::ReceiveState(const std::string* bytes) {
  MutexLock lock(&gate_mu_);
  if (abandoned_) {
    if (bytes != nullptr) {
      host_->logger->warn(
          "state of the previous version arrived after the hand-over timeout; dropped");
    }
    return;
  }
  if (bytes != nullptr && import_state_ != nullptr) {
    ClearCallError();
    nitric_status st;
    {
      PluginCallScope running(identity_.get(), PluginCall::kImport);
      st = import_state_(plugin_state_, bytes->data(), bytes->size());
    }
    if (st != NITRIC_OK) {
      host_->logger->error("import_state failed ({}): {}; serving without the previous state",
                           nitric_status_name(st), CallError());
    } else {
      host_->logger->info("imported {} bytes of state from the previous version", bytes->size());
    }
  }
  ready_.store(true, std::memory_order_release);
  gate_cv_.notify_all();
}

void PluginInstance::HandStateTo(std::shared_ptr<PluginInstance> successor) {
  if (successor == nullptr || !exports_state() || !successor->imports_state()) return;
  successor->ready_.store(false, std::memory_order_release);
  MutexLock lock(&successor_mu_);
  successor_ = std::move(successor);
}

void PluginInstance::CancelHandOver() {
  std::shared_ptr<PluginInstance> successor;
  {
    MutexLock lock(&successor_mu_);
    successor = std::move(successor_);
  }
  if (successor != nullptr) successor->ReceiveState(nullptr);
}

bool PluginInstance::WaitUntilReady() const {
  if (ready_.load(std::memory_order_acquire)) return false;
  AboutToBlock();  // the state hand-over may take a while
  const auto deadline = std::chrono::steady_clock::now() + handoff_timeout_;
  MutexLock lock(&gate_mu_);
  while (!ready_.load(std::memory_order_acquire) &&
         gate_mu_.WaitUntil(gate_cv_, deadline) != std::cv_status::timeout) {
  }
  if (ready_.load(std::memory_order_acquire)) return true;
  // The old version is still busy (or something holds its generation):
  // serving without its state beats stalling every event of this plugin.
  abandoned_ = true;
  ready_.store(true, std::memory_order_release);
  gate_cv_.notify_all();
  host_->logger->warn("the previous version did not finish within {} ms; serving without its state",
                      handoff_timeout_.count());
  return true;
}

std::string PluginInstance::Summary() const {
  std::string out = name();
  if (!version_.empty()) out += " " + version_;
  out += " (" + file_name() + "): websockets [";
  bool first = true;
  for (const auto& socket : declarations_.sockets) {
    out += (first ? "" : ", ") + socket;
    first = false;
  }
  out += "], stores [";
  first = true;
  for (const auto& [store, allow] : declarations_.stores) {
    out += (first ? "" : ", ") + store + ":" + PermissionText(allow);
    first = false;
  }
  out += "], handles [";
  first = true;
  for (const auto& reg : handlers()) {
    out += (first ? "" : ", ") + reg.socket + ":" + nitric_event_type_name(reg.type);
    first = false;
  }
  out += "]";
  return out;
}

void PluginInstance::SetRefused(std::string reason) {
  MutexLock lock(&refusal_mu_);
  refusal_ = std::move(reason);
  refused_.store(!refusal_.empty(), std::memory_order_release);
}

std::string PluginInstance::refusal() const {
  MutexLock lock(&refusal_mu_);
  return refusal_;
}

}  // namespace nitric::host
