#include "tiebreak/core/csv.h"

#include "tiebreak/core/text_file.h"

#include <c10/util/Exception.h>

#include <sstream>

namespace tiebreak {

int CsvTable::index(const std::string& column) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == column) return static_cast<int>(i);
  return -1;
}

size_t CsvTable::column(const std::string& name) const {
  const int i = index(name);
  TORCH_CHECK(i >= 0, source, ": expected a column '", name, "' in the header");
  return static_cast<size_t>(i);
}

CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvTable table;
  table.source = source;
  std::istringstream in(text);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::string field;
    std::istringstream ls(line);
    while (std::getline(ls, field, ',')) fields.push_back(field);
    if (line.back() == ',') fields.emplace_back();
    if (table.header.empty()) {
      table.header = std::move(fields);
      continue;
    }
    TORCH_CHECK(fields.size() == table.header.size(), source, ": line ", number, ": expected ",
                table.header.size(), " fields, got ", fields.size());
    table.rows.push_back(std::move(fields));
    table.lines.push_back(number);
  }
  TORCH_CHECK(!table.header.empty(), source, ": empty CSV file");
  return table;
}

CsvTable read_csv(const std::filesystem::path& path) { return parse_csv(read_text(path), path.string()); }

}  // namespace tiebreak
