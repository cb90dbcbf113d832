#include "devserver/kv_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

namespace nitric::devserver {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS kv ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID";

// Longest store name kept readable in the file name; longer ones are hashed so
// the file name stays well under NAME_MAX (255).
constexpr std::size_t kMaxPlainName = 200;
constexpr std::size_t kMaxHexBytes = 100;

bool IsPlainName(const std::string& name) {
  if (name.empty() || name.size() > kMaxPlainName || name.front() == '.') return false;
  for (unsigned char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void AppendHex(std::string* out, const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out->push_back(kDigits[data[i] >> 4]);
    out->push_back(kDigits[data[i] & 0xf]);
  }
}

// FNV-1a: stable across builds and platforms (std::hash is not), which matters
// because the result names a file that must be found again after a restart.
uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The smallest string greater than every string starting with `prefix`
// (byte-wise), or false when there is none (prefix all 0xff).
bool PrefixUpperBound(const std::string& prefix, std::string* upper) {
  std::string s = prefix;
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (s.empty()) return false;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  *upper = std::move(s);
  return true;
}

void BindText(sqlite3_stmt* stmt, int index, const std::string& text) {
  // SQLITE_STATIC: the string outlives the statement's use (reset before
  // returning from every method).
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// Resets a prepared statement when the method using it returns, whatever the
// path, so it never holds a read transaction open.
class StatementReset {
 public:
  explicit StatementReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementReset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementReset(const StatementReset&) = delete;
  StatementReset& operator=(const StatementReset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// KV data is the developer's: readable by them only, whatever the umask.
constexpr mode_t kFileMode = 0600;
constexpr mode_t kFolderMode = 0700;

// Creates `folder` with kFolderMode (its parents with the default mode).
// When it already exists it is left alone, unless `tighten`: then a folder
// others can read is chmod'ed to kFolderMode (it was made by an older
// membrane, or by hand).
grpc::Status MakePrivateFolder(const std::filesystem::path& folder, bool tighten) {
  std::error_code ec;
  if (folder.has_parent_path()) std::filesystem::create_directories(folder.parent_path(), ec);
  if (::mkdir(folder.c_str(), kFolderMode) == 0) {
    // mkdir's mode passes through the umask; the folder gets exactly 0700.
    if (::chmod(folder.c_str(), kFolderMode) == 0) return grpc::Status::OK;
  } else if (errno == EEXIST) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "KV folder " + folder.string() + " exists and is not a folder");
    }
    if (!tighten || (st.st_mode & 077) == 0) return grpc::Status::OK;
    if (::chmod(folder.c_str(), kFolderMode) == 0) {
      spdlog::info("KV folder {} was readable by others; now 0700", folder.string());
      return grpc::Status::OK;
    }
  }
  return grpc::Status(
      grpc::StatusCode::FAILED_PRECONDITION,
      "cannot create KV folder " + folder.string() + " with mode 0700: " + std::strerror(errno));
}

// Gives `file` mode 0600 when it exists and is a regular file. A missing
// file is fine (SQLite creates -wal and -shm lazily).
bool MakePrivateIfPresent(const std::filesystem::path& file) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISREG(st.st_mode)) return false;
  return (st.st_mode & 0777) == kFileMode || ::chmod(file.c_str(), kFileMode) == 0;
}

// Creates the database file with mode 0600 before SQLite opens it: SQLite
// creates files with 0644 minus the umask, and gives its -wal and -shm files
// the database file's mode. A database file found with a looser mode (an
// older membrane's) is tightened, with its -wal and -shm.
grpc::Status PrepareDatabaseFile(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd < 0) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "cannot open KV database " + file.string() + ": " + std::strerror(errno) +
                            (errno == ELOOP ? " (it is a symbolic link; remove it)" : ""));
  }
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  ((st.st_mode & 0777) == kFileMode || ::fchmod(fd, kFileMode) == 0);
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        "KV database " + file.string() +
            " is not a regular file or cannot be made 0600: " + std::strerror(saved_errno));
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    if (!MakePrivateIfPresent(file.string() + suffix)) {
      return grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          "cannot make " + file.string() + suffix + " 0600: " + std::strerror(errno));
    }
  }
  return grpc::Status::OK;
}

std::string ColumnText(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  int n = sqlite3_column_bytes(stmt, col);
  return text ? std::string(text, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

// ---- KvStore ---------------------------------------------------------------

KvStore::KvStore(std::filesystem::path file) : file_(std::move(file)) {}

KvStore::~KvStore() { Close(); }

grpc::Status KvStore::Open(const std::filesystem::path& file, std::unique_ptr<KvStore>* out) {
  std::unique_ptr<KvStore> store(new KvStore(file));
  grpc::Status s = store->Init();
  if (!s.ok()) return s;
  *out = std::move(store);
  return grpc::Status::OK;
}

grpc::Status KvStore::Error(const char* what) const {
  const int code = db_ ? (sqlite3_extended_errcode(db_) & 0xff) : SQLITE_OK;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    // Nothing the client can retry: say what is wrong with which file and
    // how to get the store back. Only this store is affected.
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        std::string(what) + ": " + file_.string() +
                            " is corrupt or not a SQLite database (" + sqlite3_errmsg(db_) +
                            "); move it away to start this store empty, or restore it from a "
                            "backup. Other stores are not affected");
  }
  std::string msg = std::string(what) + " (" + file_.string() + "): ";
  msg += db_ ? sqlite3_errmsg(db_) : "database closed";
  return grpc::Status(grpc::StatusCode::INTERNAL, msg);
}

grpc::Status KvStore::Init() {
  if (grpc::Status s = PrepareDatabaseFile(file_); !s.ok()) return s;
  // NOMUTEX: this object serialises every use of the connection on mu_, so
  // SQLite's own connection mutex would only add cost.
  int rc = sqlite3_open_v2(
      file_.c_str(), &db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
      nullptr);
  if (rc != SQLITE_OK) {
    grpc::Status s = Error("cannot open KV database");
    CloseLocked();
    return s;
  }
  // Another process (a second membrane on the same folder) may hold the lock
  // briefly; wait rather than fail at once.
  sqlite3_busy_timeout(db_, 5000);
  const char* setup[] = {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kSchema};
  for (const char* sql : setup) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      grpc::Status s = Error("cannot initialise KV database");
      CloseLocked();
      return s;
    }
  }
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } statements[] = {
      {&get_, "SELECT value FROM kv WHERE key = ?1"},
      {&set_, "INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)"},
      {&delete_, "DELETE FROM kv WHERE key = ?1"},
      {&scan_all_, "SELECT key FROM kv ORDER BY key"},
      // Prefix scans are byte ranges on the primary key, never LIKE: '%' and
      // '_' in a prefix are plain characters, and the index is used.
      {&scan_from_, "SELECT key FROM kv WHERE key >= ?1 ORDER BY key"},
      {&scan_range_, "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"},
  };
  for (auto& st : statements) {
    if (sqlite3_prepare_v3(db_, st.sql, -1, SQLITE_PREPARE_PERSISTENT, st.stmt, nullptr) !=
        SQLITE_OK) {
      grpc::Status s = Error("cannot prepare KV statement");
      CloseLocked();
      return s;
    }
  }
  // WAL mode made the -wal and -shm files by now, with the database file's
  // mode; checked anyway, since that is SQLite's behaviour, not a contract.
  for (const char* suffix : {"-wal", "-shm"}) {
    if (!MakePrivateIfPresent(file_.string() + suffix)) {
      spdlog::warn("KV file {}{} could not be made 0600: {}", file_.string(), suffix,
                   std::strerror(errno));
    }
  }
  return grpc::Status::OK;
}

grpc::Status KvStore::Get(const std::string& key, std::string* json) {
  std::lock_guard lock(mu_);
  if (!db_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "KV store is closed");
  StatementReset reset(get_);
  BindText(get_, 1, key);
  int rc = sqlite3_step(get_);
  if (rc == SQLITE_DONE) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "key '" + key + "' not found");
  }
  if (rc != SQLITE_ROW) return Error("KV read failed");
  *json = ColumnText(get_, 0);
  return grpc::Status::OK;
}

grpc::Status KvStore::Set(const std::string& key, const std::string& json) {
  std::lock_guard lock(mu_);
  if (!db_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "KV store is closed");
  StatementReset reset(set_);
  BindText(set_, 1, key);
  BindText(set_, 2, json);
  if (sqlite3_step(set_) != SQLITE_DONE) return Error("KV write failed");
  return grpc::Status::OK;
}

grpc::Status KvStore::Delete(const std::string& key) {
  std::lock_guard lock(mu_);
  if (!db_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "KV store is closed");
  StatementReset reset(delete_);
  BindText(delete_, 1, key);
  if (sqlite3_step(delete_) != SQLITE_DONE) return Error("KV delete failed");
  return grpc::Status::OK;
}

grpc::Status KvStore::ScanKeys(const std::string& prefix, std::vector<std::string>* keys) {
  std::lock_guard lock(mu_);
  if (!db_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "KV store is closed");
  std::string upper;
  sqlite3_stmt* stmt = scan_all_;
  if (!prefix.empty()) {
    if (PrefixUpperBound(prefix, &upper)) {
      stmt = scan_range_;
      BindText(stmt, 1, prefix);
      BindText(stmt, 2, upper);
    } else {
      stmt = scan_from_;
      BindText(stmt, 1, prefix);
    }
  }
  StatementReset reset(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) keys->push_back(ColumnText(stmt, 0));
  if (rc != SQLITE_DONE) return Error("KV scan failed");
  return grpc::Status::OK;
}

void KvStore::Close() {
  std::lock_guard lock(mu_);
  CloseLocked();
}

void KvStore::CloseLocked() {
  if (!db_) return;
  for (sqlite3_stmt** stmt : {&get_, &set_, &delete_, &scan_all_, &scan_from_, &scan_range_}) {
    sqlite3_finalize(*stmt);  // harmless on null
    *stmt = nullptr;
  }
  // Fold the WAL back into the database file so the folder holds one
  // self-contained file per store after a clean shutdown.
  if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) !=
      SQLITE_OK) {
    spdlog::warn("KV checkpoint of {} failed: {}", file_.string(), sqlite3_errmsg(db_));
  }
  if (sqlite3_close(db_) != SQLITE_OK) {
    spdlog::warn("KV close of {} failed: {}", file_.string(), sqlite3_errmsg(db_));
    sqlite3_close_v2(db_);
  }
  db_ = nullptr;
}

// ---- KvStores --------------------------------------------------------------

KvStores::KvStores(std::filesystem::path dir) : folder_(std::move(dir) / "kv") {}

KvStores::~KvStores() { Close(); }

grpc::Status KvStores::Open() {
  std::lock_guard lock(mu_);
  // The data folder is the user's choice (--data): made 0700 when created
  // here, left alone when it exists. kv/ is ours and always 0700.
  if (grpc::Status s = MakePrivateFolder(folder_.parent_path(), /*tighten=*/false); !s.ok()) {
    return s;
  }
  if (grpc::Status s = MakePrivateFolder(folder_, /*tighten=*/true); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(folder_, ec);
  if (!ec) folder_ = abs.lexically_normal();
  open_ = true;
  closed_ = false;
  return grpc::Status::OK;
}

grpc::Status KvStores::Get(const std::string& name, KvStore** store) {
  if (name.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "store name is empty");
  }
  std::lock_guard lock(mu_);
  if (!open_ || closed_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "KV stores are not open");
  }
  auto it = stores_.find(name);
  if (it == stores_.end()) {
    std::unique_ptr<KvStore> opened;
    grpc::Status s = KvStore::Open(folder_ / FileNameFor(name), &opened);
    if (!s.ok()) {
      // Not cached: once the file is fixed or moved away the store opens.
      // Logged once per store, the caller gets the status every time.
      if (failed_.insert(name).second) {
        spdlog::error("KV store '{}' cannot be used: {}", name, s.error_message());
      }
      return grpc::Status(s.error_code(), "KV store '" + name + "': " + s.error_message());
    }
    failed_.erase(name);
    spdlog::info("KV store '{}' at {}", name, opened->file().string());
    it = stores_.emplace(name, std::move(opened)).first;
  }
  *store = it->second.get();
  return grpc::Status::OK;
}

void KvStores::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  closed_ = true;
  for (auto& [name, store] : stores_) store->Close();
}

std::filesystem::path KvStores::folder() const {
  std::lock_guard lock(mu_);
  return folder_;
}

std::string KvStores::FileNameFor(const std::string& store_name) {
  static constexpr const char* kExtension = ".sqlite";
  if (IsPlainName(store_name)) return store_name + kExtension;
  std::string out = "~";
  const auto* bytes = reinterpret_cast<const unsigned char*>(store_name.data());
  if (store_name.size() <= kMaxHexBytes) {
    AppendHex(&out, bytes, store_name.size());
  } else {
    // Readable head plus a hash of the whole name.
    AppendHex(&out, bytes, kMaxHexBytes / 2);
    out.push_back('-');
    uint64_t h = Fnv1a64(store_name);
    unsigned char hb[8];
    for (int i = 0; i < 8; ++i) hb[i] = static_cast<unsigned char>(h >> (56 - 8 * i));
    AppendHex(&out, hb, sizeof hb);
    out.push_back('-');
    out += std::to_string(store_name.size());
  }
  return out + kExtension;
}

}  // namespace nitric::devserver
