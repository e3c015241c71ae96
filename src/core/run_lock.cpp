#include "tiebreak/core/run_lock.h"

#include <c10/util/Exception.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace tiebreak {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

/// Who holds the lock, from the record its holder wrote (one JSON object).
std::string describe_holder(int fd) {
  std::string text;
  char buffer[4096];
  off_t at = 0;
  while (true) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    at += n;
  }
  try {
    const auto j = json::parse(text);
    return fmt::format("pid {} on host {} since {} ({})", j.at("pid").get<int64_t>(),
                       j.at("host").get<std::string>(), j.value("since", "?"), j.value("command", "?"));
  } catch (const std::exception&) {
    // The holder locks before it writes its record: it may be between the two.
    return "another process (which has not recorded itself yet)";
  }
}

}  // namespace

DirectoryLock::DirectoryLock(const fs::path& dir, const std::string& command, const std::string& name)
    : file_(dir / name) {
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  TORCH_CHECK(fd_ >= 0, file_.string(), ": cannot open the lock file: ", std::strerror(errno));
  int rc = 0;
  while ((rc = ::flock(fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    const int err = errno;
    const std::string holder = err == EWOULDBLOCK ? describe_holder(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    TORCH_CHECK(err != EWOULDBLOCK, dir.string(), ": in use by ", holder,
                "; wait for it to end or use another --out");
    TORCH_CHECK(false, file_.string(), ": cannot lock: ", std::strerror(err),
                " (the filesystem must support flock to guard against two writers)");
  }
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  const std::string record = json{{"pid", static_cast<int64_t>(::getpid())},
                                  {"host", host_name()},
                                  {"since", fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(now))},
                                  {"command", command}}
                                 .dump() +
                             "\n";
  // The record only explains a refusal; the lock is what excludes. A record that cannot be written
  // (disk full) leaves the lock held and the next refusal says less.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd_, record.data(), record.size(), 0);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_), file_(std::move(other.file_)) {
  other.fd_ = -1;
}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    file_ = std::move(other.file_);
    other.fd_ = -1;
  }
  return *this;
}

}  // namespace tiebreak
