#include "support/test_support.h"

#include "tiebreak/core/csv.h"
#include "tiebreak/train/metrics.h"

#include <c10/util/Exception.h>

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace tiebreak::testing {

namespace fs = std::filesystem;

std::optional<fs::path> shared_data_dir() {
  if (const char* env = std::getenv("TIEBREAK_DATA"); env && *env) {
    if (fs::is_directory(env)) return fs::path(env);
    return std::nullopt;
  }
  fs::path candidate = source_dir() / ".." / "shared" / "data";
  if (fs::is_directory(candidate)) return fs::weakly_canonical(candidate);
  return std::nullopt;
}

std::string metrics_without_seconds(const fs::path& run_dir) {
  const auto table = tiebreak::read_csv(run_dir / "metrics.csv");
  const int seconds = table.index("seconds");
  std::string out;
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < row.size(); ++i)
      if (static_cast<int>(i) != seconds) out += row[i] + ",";
    out += "\n";
  }
  return out;
}

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = fs::temp_directory_path() / ("tiebreak-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("could not create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

FileSizeLimit::FileSizeLimit(uint64_t bytes) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("getrlimit(RLIMIT_FSIZE) failed");
  previous_soft_ = limit.rlim_cur;
  limit.rlim_cur = std::min<rlim_t>(bytes, limit.rlim_max);
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("setrlimit(RLIMIT_FSIZE) failed");
  previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
}

FileSizeLimit::~FileSizeLimit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_FSIZE, &limit);
  limit.rlim_cur = previous_soft_;
  ::setrlimit(RLIMIT_FSIZE, &limit);
  std::signal(SIGXFSZ, previous_handler_);
}

namespace {
std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult run_tiebreak(const std::string& args) {
  TempDir tmp;
  const std::string cmd = tiebreak_binary() + " " + args + " >" + (tmp / "out").string() + " 2>" +
                          (tmp / "err").string() + " </dev/null";
  int status = std::system(cmd.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_all(tmp / "out");
  result.err = read_all(tmp / "err");
  return result;
}

std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace tiebreak::testing
