#pragma once

#include <filesystem>
#include <string>

namespace tiebreak {

/// The whole contents of a file, read through one descriptor (retrying on EINTR): the one way tiebreak reads
/// a text file (configs, CSV files, run.json, the study's reference tables). Writing goes through
/// write_text_atomically (core/atomic_file.h).
///
/// Errors: a file that cannot be opened or read is a one-line c10::Error naming it and the system's reason,
/// e.g. "runs/x/metrics.csv: cannot open for reading: No such file or directory".
///
/// Example:
/// ```
/// const std::string json = tiebreak::read_text("runs/x/run-0/run.json");
/// ```
std::string read_text(const std::filesystem::path& path);

}  // namespace tiebreak
