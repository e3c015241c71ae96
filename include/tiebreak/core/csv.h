#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak {

/// A parsed CSV file: header names and rows of raw fields.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  /// Index of `column` in header, or -1.
  int index(const std::string& column) const;
};

/// Reads a simple CSV file (no quoting: tiebreak never writes commas inside fields; a trailing `\r` is
/// dropped, blank lines are skipped), e.g. a run's metrics.csv.
///
/// Errors: an unreadable file (read_text), an empty one, or a row whose field count differs from the
/// header's is a one-line c10::Error naming the file and line, e.g.
/// "runs/x/metrics.csv: line 7: expected 16 fields, got 9".
CsvTable read_csv(const std::filesystem::path& path);

}  // namespace tiebreak
