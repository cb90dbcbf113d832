// The one result type of the host's fallible functions, after LevelDB's
// Status: OK, or a nitric_status code (plugin-api/include/nitric/plugin.h)
// with one sentence a user can act on ("plugin x.so was built for ABI 2,
// ..."). Never an exception.
//
// The code is the plugin ABI's own, so a status travels from the membrane
// client to a plugin without translation; gRPC codes are mapped to it in one
// place only, the gRPC membrane client (host/membrane/grpc_membrane_client.cc).
//
// Cost: an OK status is one null pointer; making, copying and destroying it
// never allocates (the send completion path relies on that). Only an error
// allocates, for its text.
//
// Thread-safety: plain values; const methods may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <nitric/plugin.h>

namespace nitric::host {

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  // An error. NITRIC_OK as `code` gives an OK status (the message is dropped).
  Status(nitric_status code, std::string message)
      : rep_(code == NITRIC_OK ? nullptr : new Rep{code, std::move(message)}) {}

  Status(const Status& other) : rep_(other.rep_ ? new Rep(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_.reset(other.rep_ ? new Rep(*other.rep_) : nullptr);
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  // NITRIC_OK when ok().
  nitric_status code() const { return rep_ ? rep_->code : NITRIC_OK; }
  // Why it failed; empty when ok().
  const std::string& message() const { return rep_ ? rep_->message : Empty(); }
  // "OK", or "NOT_FOUND: <message>": for logs.
  std::string ToString() const {
    if (ok()) return "OK";
    return std::string(nitric_status_name(rep_->code)) + ": " + rep_->message;
  }

 private:
  struct Rep {
    nitric_status code;
    std::string message;
  };
  static const std::string& Empty() {
    static const std::string empty;
    return empty;
  }
  std::unique_ptr<Rep> rep_;  // null: OK
};

// A T, or the error Status saying why there is none.
template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: !status.ok(). An OK status without a value is a bug in the
  // caller; it is turned into INTERNAL rather than a StatusOr with neither.
  StatusOr(Status status)  // NOLINT: implicit by design
      : status_(status.ok() ? Status(NITRIC_ERR_INTERNAL, "StatusOr made from an OK status")
                            : std::move(status)) {}

  bool ok() const { return value_.has_value(); }
  // OK when ok().
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace nitric::host
