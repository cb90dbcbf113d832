// Captures what the code under test logs through spdlog's default logger.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace nitric::devserver::testing {

// Collects formatted log lines; Text() may be called while others log.
class CapturingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string Text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    text_.append(line.data(), line.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

// Routes the default logger into a CapturingSink for the duration of a test.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
  }
  ~LogCapture() {
    // I/O threads may still be inside the capture logger through spdlog's raw
    // default-logger pointer, so it is kept alive (a few bytes per test).
    static std::vector<std::shared_ptr<spdlog::logger>> retired;
    retired.push_back(spdlog::default_logger());
    spdlog::set_default_logger(previous_);
  }
  std::string Text() { return sink_->Text(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<CapturingSink> sink_ = std::make_shared<CapturingSink>();
};

}  // namespace nitric::devserver::testing
