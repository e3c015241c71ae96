#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak {

/// A parsed CSV file: header names and rows of raw fields, with where each row came from (for errors).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  /// The 1-based line of each row in the text.
  std::vector<size_t> lines;
  /// What errors name: the file, or what the text is ("reference/study/study_results.csv (built in)").
  std::string source;

  /// Index of `column` in header, or -1.
  int index(const std::string& column) const;
  /// Index of `column` in header; a one-line c10::Error "<source>: expected a column 'NAME' in the header"
  /// when absent.
  size_t column(const std::string& name) const;
};

/// Parses CSV text written by tiebreak or the study (no quoting: neither writes commas inside fields; a
/// trailing `\r` is dropped, blank lines are skipped, a trailing comma is an empty last field).
///
/// Errors: empty text, or a row whose field count differs from the header's, is a one-line c10::Error naming
/// `source` and the line, e.g. "runs/x/metrics.csv: line 7: expected 16 fields, got 9".
CsvTable parse_csv(const std::string& text, const std::string& source);

/// parse_csv of a file's contents (read_text), naming the file in errors. E.g. a run's metrics.csv.
CsvTable read_csv(const std::filesystem::path& path);

}  // namespace tiebreak
