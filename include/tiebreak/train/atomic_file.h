#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace tiebreak::train {

/// Replaces `path` with what `write` puts into the temporary file it is given,
/// so that readers (and a process killed at any moment) see either the old
/// file or the complete new one, never a prefix: the temporary file lives in
/// the same directory, is fsync'ed, renamed over `path`, and the directory is
/// fsync'ed. If `write` throws, the temporary file is removed and `path` is
/// left as it was.
///
/// Example:
/// ```
/// write_atomically("run/checkpoint.pt", [&](const std::filesystem::path& tmp) { torch::save(model, tmp); });
/// ```
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& temporary)>& write);

/// write_atomically for a file whose whole contents are `contents`.
void write_text_atomically(const std::filesystem::path& path, const std::string& contents);

/// The whole contents of a file; throws a one-line error naming it when unreadable.
std::string read_text(const std::filesystem::path& path);

}  // namespace tiebreak::train
