#include "tiebreak/train/command_line.h"

namespace tiebreak::train {

namespace {

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string("@%+=:,./-_").find(static_cast<char>(c)) != std::string::npos;
    if (!plain) return true;
  }
  return false;
}

}  // namespace

std::string shell_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!needs_quotes(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace tiebreak::train
