// nitric/result.hpp - Error and Result<T>: how plugin.hpp and json.hpp report
// failure. A plugin normally includes plugin.hpp, which includes this.
//
//   Error      a small value: code() (nitric_status) + message(). Default-built
//              means "no error" (Go's nil); converts to true when it IS an
//              error, so `if (auto err = ws.Send(...)) return err;` reads like Go.
//              Error("text") is a handler failure (NITRIC_ERR_HANDLER).
//   Result<T>  a T or an Error: `if (!r) return r.error(); use(*r);`
#ifndef NITRIC_RESULT_HPP_
#define NITRIC_RESULT_HPP_

#include <nitric/plugin.h>

#include <optional>
#include <string>
#include <utility>

namespace nitric {

// Name of a status, e.g. "NOT_FOUND".
inline const char* StatusName(nitric_status code) noexcept { return nitric_status_name(code); }

// An error value; a default-constructed Error means success (Go's nil).
class Error {
 public:
  Error() noexcept = default;
  // A failure of the plugin's own making (NITRIC_ERR_HANDLER).
  explicit Error(std::string message) : code_(NITRIC_ERR_HANDLER), message_(std::move(message)) {}
  Error(nitric_status code, std::string message) : code_(code), message_(std::move(message)) {}

  // True when this IS an error.
  explicit operator bool() const noexcept { return code_ != NITRIC_OK; }
  bool ok() const noexcept { return code_ == NITRIC_OK; }
  nitric_status code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  bool IsDone() const noexcept { return code_ == NITRIC_DONE; }
  bool IsNotFound() const noexcept { return code_ == NITRIC_ERR_NOT_FOUND; }
  bool IsPermissionDenied() const noexcept { return code_ == NITRIC_ERR_PERMISSION_DENIED; }
  bool IsUnavailable() const noexcept { return code_ == NITRIC_ERR_UNAVAILABLE; }
  // ABI 1.1: the message or value is too large for the membrane; a retry
  // cannot succeed (plugin.h, NITRIC_ERR_TOO_LARGE).
  bool IsTooLarge() const noexcept { return code_ == NITRIC_ERR_TOO_LARGE; }

  // "NOT_FOUND: <message>", or "OK".
  std::string ToString() const {
    std::string out = StatusName(code_);
    if (!message_.empty()) out.append(": ").append(message_);
    return out;
  }

 private:
  nitric_status code_ = NITRIC_OK;
  std::string message_;
};

// A value of type T, or the Error that prevented it.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: error is an error (an OK Error becomes NITRIC_ERR_INTERNAL).
  Result(Error error) : error_(std::move(error)) {  // NOLINT: implicit by design
    if (!error_) error_ = Error(NITRIC_ERR_INTERNAL, "Result built from a non-error");
  }

  explicit operator bool() const noexcept { return value_.has_value(); }
  bool ok() const noexcept { return value_.has_value(); }

  // REQUIRES: ok().
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }

  template <class U>
  T value_or(U&& fallback) const& {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  // The error; an OK Error when ok().
  const Error& error() const& noexcept { return error_; }

 private:
  std::optional<T> value_;
  Error error_;
};

}  // namespace nitric

#endif  // NITRIC_RESULT_HPP_
