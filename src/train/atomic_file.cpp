#include "tiebreak/train/atomic_file.h"

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace tiebreak::train {

namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  TORCH_CHECK(fd >= 0, path.string(), ": cannot open to sync: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some filesystems (e.g. certain FUSE mounts) refuse fsync on directories; the rename is still atomic.
  TORCH_CHECK(rc == 0 || (directory && (err == EINVAL || err == ENOTSUP)), path.string(),
              ": fsync failed: ", std::strerror(err));
}

fs::path temporary_beside(const fs::path& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return path.parent_path() / (".tmp." + path.filename().string() + "." + std::to_string(::getpid()) + "." +
                               std::to_string(rng() % 1000000000));
}

}  // namespace

void write_atomically(const fs::path& path, const std::function<void(const fs::path& temporary)>& write) {
  const fs::path target = path.has_parent_path() ? path : fs::path(".") / path;
  const fs::path temporary = temporary_beside(target);
  try {
    write(temporary);
    TORCH_CHECK(fs::exists(temporary), target.string(), ": the writer produced no file");
    fsync_path(temporary, false);
    fs::rename(temporary, target);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
  fsync_path(target.parent_path(), true);
}

void write_text_atomically(const fs::path& path, const std::string& contents) {
  write_atomically(path, [&](const fs::path& temporary) {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out, temporary.string(), ": cannot open for writing");
    out << contents;
    out.flush();
    TORCH_CHECK(out, temporary.string(), ": write failed (disk full?)");
  });
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, path.string(), ": cannot open for reading");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace tiebreak::train
