#pragma once

#include <filesystem>
#include <string>

namespace tiebreak {

/// One writer per directory: an exclusive advisory lock (flock(2)) on
/// `dir`/.lock, held while the object lives. The operating system releases it
/// when the process ends however it ends (kill -9 included), so a stale lock
/// never needs cleaning up; the file itself stays and names its last holder.
/// Not inherited by programs the holder starts (close-on-exec). Works across
/// hosts where the filesystem supports flock (local filesystems; NFS v4 maps
/// it to byte-range locks).
///
/// `tiebreak train` holds one on each run directory for the run's whole life
/// and removes the directory's leftover temporaries only while holding it;
/// `tiebreak sweep` holds one on its output directory (one per shard:
/// `.lock.shard-I-of-N`, so the tasks of a Slurm array run side by side).
///
/// Errors: a directory locked by another holder (another process, or another
/// DirectoryLock in this one) is a one-line c10::Error naming the directory and
/// the holder, e.g. "runs/x/run-0: in use by pid 4242 on host node7 since
/// 2026-11-29T22:10:00Z (tiebreak train c.json --out runs/x); wait for it to
/// end or use another --out"; a filesystem that cannot lock is an error naming
/// the lock file.
///
/// Example:
/// ```
/// std::filesystem::create_directories(run_dir);
/// DirectoryLock lock(run_dir, "tiebreak train c.json");  // throws if another writer holds it
/// // ... write run_dir's files ...
/// ```
class DirectoryLock {
 public:
  /// Locks `dir` (which must exist) through the file `dir`/`name`, recording
  /// this process (pid, host, start time, `command`) in it.
  DirectoryLock(const std::filesystem::path& dir, const std::string& command,
                const std::string& name = ".lock");
  ~DirectoryLock();
  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  const std::filesystem::path& file() const { return file_; }

 private:
  int fd_ = -1;
  std::filesystem::path file_;
};

}  // namespace tiebreak
