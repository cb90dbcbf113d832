// Value-style results of the plugin loader, after LevelDB's Status/StatusOr:
// a failure carries one sentence a user can act on ("plugin x.so was built for
// ABI 2, ..."), never an exception.
//
// Thread-safety: plain values; const methods may be called concurrently.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace nitric::host {

class LoadStatus {
 public:
  LoadStatus() = default;  // OK
  static LoadStatus Ok() { return LoadStatus(); }
  // REQUIRES: message is not empty.
  static LoadStatus Error(std::string message) { return LoadStatus(std::move(message)); }

  bool ok() const { return message_.empty(); }
  // Why it failed; empty when ok().
  const std::string& message() const { return message_; }

 private:
  explicit LoadStatus(std::string message) : message_(std::move(message)) {}
  std::string message_;
};

// A T, or the LoadStatus saying why there is none.
template <class T>
class LoadResult {
 public:
  LoadResult(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: !status.ok().
  LoadResult(LoadStatus status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const LoadStatus& status() const { return status_; }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }

 private:
  std::optional<T> value_;
  LoadStatus status_;
};

}  // namespace nitric::host
