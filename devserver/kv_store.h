// Key-value data of the dev membrane: one SQLite database (WAL mode) per store,
// kept in a folder so that it survives a restart, the way the Nitric CLI keeps
// its local KV data. The data is private to the user running the membrane:
// database files (with their -wal and -shm) are 0600 in a 0700 folder.
//
// A store whose file is corrupt answers DATA_LOSS naming the file and the way
// out; the other stores are separate files and keep working.
//
// Values are opaque JSON text here; the gRPC layer (kv_service.*) converts
// between google.protobuf.Struct and JSON.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <grpcpp/support/status.h>

struct sqlite3;
struct sqlite3_stmt;

namespace nitric::devserver {

// One store: one SQLite connection, guarded by a mutex.
//
// Thread-safety: every method may be called from any thread; calls are
// serialised on the store's mutex (SQLite work per call is a few microseconds;
// WAL with synchronous=NORMAL means a commit does not fsync).
class KvStore {
 public:
  // Opens (creating if needed) the database at `file`. On failure returns a
  // non-OK status and leaves `*out` untouched.
  static grpc::Status Open(const std::filesystem::path& file, std::unique_ptr<KvStore>* out);

  ~KvStore();  // Close()
  KvStore(const KvStore&) = delete;
  KvStore& operator=(const KvStore&) = delete;

  // NOT_FOUND when `key` is absent.
  grpc::Status Get(const std::string& key, std::string* json);
  // Inserts or replaces.
  grpc::Status Set(const std::string& key, const std::string& json);
  // OK whether or not the key existed (cloud semantics, docs/PROTOCOL.md#kv).
  grpc::Status Delete(const std::string& key);
  // Every key that starts with `prefix` (byte-wise; no wildcard characters),
  // in ascending byte order. "" means every key.
  grpc::Status ScanKeys(const std::string& prefix, std::vector<std::string>* keys);

  // Checkpoints the WAL into the database file and closes the connection.
  // Later calls answer UNAVAILABLE. Idempotent.
  void Close();

  const std::filesystem::path& file() const { return file_; }

 private:
  explicit KvStore(std::filesystem::path file);
  grpc::Status Init();                         // REQUIRES: mu_ held or object not yet shared.
  grpc::Status Error(const char* what) const;  // REQUIRES: mu_ held.
  void CloseLocked();                          // REQUIRES: mu_ held.

  const std::filesystem::path file_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;               // GUARDED_BY(mu_); null once closed.
  sqlite3_stmt* get_ = nullptr;         // GUARDED_BY(mu_)
  sqlite3_stmt* set_ = nullptr;         // GUARDED_BY(mu_)
  sqlite3_stmt* delete_ = nullptr;      // GUARDED_BY(mu_)
  sqlite3_stmt* scan_all_ = nullptr;    // GUARDED_BY(mu_)
  sqlite3_stmt* scan_from_ = nullptr;   // GUARDED_BY(mu_): key >= ?1
  sqlite3_stmt* scan_range_ = nullptr;  // GUARDED_BY(mu_): ?1 <= key < ?2
};

// The data folder: store name -> KvStore, opened lazily on first use.
//
// Thread-safety: all methods are thread-safe. A KvStore* handed out stays valid
// for the lifetime of the KvStores object (stores are never removed, only
// closed by Close()).
class KvStores {
 public:
  // Stores live in `dir`/kv/. Nothing touches the disk before Open().
  explicit KvStores(std::filesystem::path dir);
  ~KvStores();  // Close()
  KvStores(const KvStores&) = delete;
  KvStores& operator=(const KvStores&) = delete;

  // Creates the folder if needed (0700; an existing kv/ folder is tightened
  // to 0700). Not OK when it cannot be created.
  grpc::Status Open();

  // The store called `name`, opened (and its file created, 0600) on first
  // use. INVALID_ARGUMENT for an empty name; UNAVAILABLE after Close();
  // DATA_LOSS, naming the file, when its database file is corrupt (tried
  // again on the next call, so moving the file away brings the store back).
  grpc::Status Get(const std::string& name, KvStore** store);

  // Flushes and closes every store. Idempotent.
  void Close();

  // The folder holding the database files (absolute once Open() succeeded).
  std::filesystem::path folder() const;

  // The database file name for a store name. Names made only of
  // [A-Za-z0-9_.-] that do not start with '.' are used as they are
  // ("orders" -> "orders.sqlite"); anything else is hex-encoded behind a '~'
  // that no plain name can start with ("../x" -> "~2e2e2f78.sqlite"), and very
  // long names are shortened with a hash, so a store name can never reach
  // outside the folder nor collide with another store's file.
  static std::string FileNameFor(const std::string& store_name);

 private:
  mutable std::mutex mu_;
  std::filesystem::path folder_;                                      // GUARDED_BY(mu_)
  bool open_ = false;                                                 // GUARDED_BY(mu_)
  bool closed_ = false;                                               // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::unique_ptr<KvStore>> stores_;  // GUARDED_BY(mu_)
  std::unordered_set<std::string> failed_;  // GUARDED_BY(mu_): open failure already logged
};

}  // namespace nitric::devserver
