#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace tiebreak {

/// The temporary file write_atomically hands to its writer. `write` never
/// throws: the first I/O error (disk full, quota, file-size limit, I/O error)
/// is kept, later writes are dropped, and write_atomically reports it, naming
/// the destination, once the writer returns. Writers that cannot take an
/// exception mid-way (LibTorch's archive writer finalizes the archive in its
/// destructor, and an exception there during unwinding ends the process) can
/// therefore stream straight into it.
class AtomicFileWriter {
 public:
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends `size` bytes; returns false once any write has failed.
  bool write(const void* data, size_t size) noexcept;
  bool write(std::string_view text) noexcept { return write(text.data(), text.size()); }

  /// The file being replaced (what errors name).
  const std::filesystem::path& destination() const { return destination_; }
  /// errno of the first failed write, 0 while none failed.
  int error() const { return error_; }

 private:
  friend void write_atomically(const std::filesystem::path&, const std::function<void(AtomicFileWriter&)>&);
  AtomicFileWriter(int fd, std::filesystem::path destination)
      : fd_(fd), destination_(std::move(destination)) {}

  int fd_;
  std::filesystem::path destination_;
  int error_ = 0;
};

/// Replaces `path` with what `write` puts into the AtomicFileWriter it is
/// given, so that readers (and a process killed at any moment) see either the
/// old file or the complete new one, never a prefix: the temporary file
/// (`.tmp.<name>.<pid>.<random>` in the same directory) is written, fsync'ed
/// through the descriptor that wrote it, renamed over `path`, and the directory
/// is fsync'ed.
///
/// Errors: any failure (creating the temporary, a write, fsync, rename) or an
/// exception from `write` removes the temporary and leaves `path` as it was; it
/// is a one-line c10::Error naming `path` and the system's reason, e.g.
/// "runs/x/run-0/checkpoint.pt: cannot write: No space left on device (the
/// previous file is left as it was)". An exception from `write` is rethrown as it is.
///
/// Example:
/// ```
/// write_atomically("run/model.pt", [&](AtomicFileWriter& out) {
///   archive.save_to([&](const void* data, size_t n) { out.write(data, n); return n; });
/// });
/// ```
void write_atomically(const std::filesystem::path& path, const std::function<void(AtomicFileWriter&)>& write);

/// write_atomically for a file whose whole contents are `contents`.
void write_text_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace tiebreak
