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

CsvTable read_csv(const std::filesystem::path& path) {
  std::istringstream in(read_text(path));
  auto split = [](const std::string& line) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream ls(line);
    while (std::getline(ls, field, ',')) fields.push_back(field);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    return fields;
  };
  CsvTable table;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto fields = split(line);
    if (table.header.empty()) {
      table.header = std::move(fields);
      continue;
    }
    TORCH_CHECK(fields.size() == table.header.size(), path.string(), ": line ", number, ": expected ",
                table.header.size(), " fields, got ", fields.size());
    table.rows.push_back(std::move(fields));
  }
  TORCH_CHECK(!table.header.empty(), path.string(), ": empty CSV file");
  return table;
}

}  // namespace tiebreak
