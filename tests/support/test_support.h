#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace tiebreak::testing {

/// The checkout the tests were built from (its configs/, scripts/, ...).
const std::filesystem::path& source_dir();

/// The built `tiebreak` program of this build tree.
const std::string& tiebreak_binary();

/// The real datasets: `$TIEBREAK_DATA` (the variable the CLI and the scripts
/// read too) when set, else `../shared/data` beside the checkout; nullopt when
/// that folder does not exist, so a test can skip with a clear message.
std::optional<std::filesystem::path> shared_data_dir();

/// `run_dir`/metrics.csv without its `seconds` column (the one column that differs between two runs of the
/// same computation), row by row: what resume and interruption tests compare bit for bit.
std::string metrics_without_seconds(const std::filesystem::path& run_dir);

/// GTEST_SKIP()s the calling test unless `relative` exists under the shared
/// data directory; returns the full path.
#define TIEBREAK_REQUIRE_SHARED_DATA(var, relative)                                  \
  auto var##_root = ::tiebreak::testing::shared_data_dir();                          \
  if (!var##_root || !std::filesystem::exists(*var##_root / (relative))) {           \
    GTEST_SKIP() << "real data not found: " << (relative)                            \
                 << " under $TIEBREAK_DATA or ../shared/data (skipped, not failed)"; \
  }                                                                                  \
  const std::filesystem::path var = *var##_root / (relative)

/// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Fault injection without privileges: while alive, no file this process or
/// its children write may grow beyond `bytes` (RLIMIT_FSIZE); a write past it
/// fails with EFBIG ("File too large") as a full disk fails with ENOSPC, and
/// SIGXFSZ, which would otherwise kill the writer, is ignored (inherited
/// across exec). Restores both when destroyed.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  uint64_t previous_soft_;
  void (*previous_handler_)(int);
};

/// Runs the built `tiebreak` program with `args` (a shell-quoted string) and
/// returns its exit code, stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_tiebreak(const std::string& args);

/// The message `fn` throws (a c10::Error without its backtrace, or any other
/// std::exception's what()), or "<no error>" when it returns normally.
std::string error_message(const std::function<void()>& fn);

}  // namespace tiebreak::testing
