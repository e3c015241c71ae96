#include "tiebreak/core/atomic_file.h"

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <random>

namespace tiebreak {

namespace fs = std::filesystem;

namespace {

fs::path temporary_beside(const fs::path& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return path.parent_path() / (".tmp." + path.filename().string() + "." + std::to_string(::getpid()) + "." +
                               std::to_string(rng() % 1000000000));
}

/// Closes the temporary's descriptor and removes it unless released: every way
/// out of write_atomically but the successful rename takes the temporary with it.
class TemporaryGuard {
 public:
  TemporaryGuard(int fd, fs::path path) : fd_(fd), path_(std::move(path)) {}
  ~TemporaryGuard() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) ::unlink(path_.c_str());
  }
  TemporaryGuard(const TemporaryGuard&) = delete;
  TemporaryGuard& operator=(const TemporaryGuard&) = delete;
  /// Closes the descriptor; returns errno of a failed close (NFS reports write errors there), else 0.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }
  void release() { released_ = true; }

 private:
  int fd_;
  fs::path path_;
  bool released_ = false;
};

[[noreturn]] void fail(const fs::path& target, const char* what, int err) {
  std::error_code ignored;
  TORCH_CHECK(
      false, target.string(), ": ", what, ": ", std::strerror(err),
      fs::exists(target, ignored) ? " (the previous file is left as it was)" : " (nothing was written)");
}

void fsync_directory(const fs::path& dir, const fs::path& target) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // The rename has happened: the file is complete whatever the directory's durability.
  if (fd < 0) return;
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems (e.g. certain FUSE mounts) refuse fsync on directories; the rename is still atomic.
  TORCH_CHECK(rc == 0 || err == EINVAL || err == ENOTSUP, target.string(),
              ": written, but syncing its directory failed: ", std::strerror(err));
}

}  // namespace

bool AtomicFileWriter::write(const void* data, size_t size) noexcept {
  if (error_ != 0) return false;
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      return false;
    }
    if (n == 0) {  // a regular file never accepts zero bytes for a non-empty write
      error_ = EIO;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void write_atomically(const fs::path& path, const std::function<void(AtomicFileWriter&)>& write) {
  const fs::path target = path.has_parent_path() ? path : fs::path(".") / path;
  const fs::path temporary = temporary_beside(target);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail(target, "cannot create a temporary file beside it", errno);
  TemporaryGuard guard(fd, temporary);
  AtomicFileWriter writer(fd, target);
  write(writer);
  if (writer.error() != 0) fail(target, "cannot write", writer.error());
  if (::fsync(fd) != 0) fail(target, "cannot write (fsync)", errno);
  if (const int err = guard.close(); err != 0) fail(target, "cannot write (close)", err);
  if (::rename(temporary.c_str(), target.c_str()) != 0) fail(target, "cannot replace it", errno);
  guard.release();
  fsync_directory(target.parent_path(), target);
}

void write_text_atomically(const fs::path& path, const std::string& contents) {
  write_atomically(path, [&](AtomicFileWriter& out) { out.write(contents); });
}

}  // namespace tiebreak
