#pragma once

// What the tests that run the built `tiebreak` program under faults and signals share (cli_fault_test.cpp,
// cli_signal_test.cpp): their vocabulary (`using namespace tiebreak::testing` brings the test support, the
// matchers and `fs`) and their checks.

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::testing {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

/// The names of the atomic writes' temporaries (`.tmp.*`) directly in `dir`: none may outlive a command.
inline std::vector<std::string> temporaries_in(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind(".tmp.", 0) == 0) found.push_back(e.path().filename().string());
  return found;
}

/// Exactly one line of `err` starts with `tag` (the run's log lines may precede it), that line holds
/// `expected`, and nothing says the process aborted.
inline void expect_one_line(const std::string& err, const std::string& tag, const std::string& expected) {
  const auto at = err.find(tag);
  ASSERT_NE(at, std::string::npos) << err;
  EXPECT_EQ(err.find(tag, at + 1), std::string::npos) << err;
  EXPECT_THAT(err.substr(at, err.find('\n', at) - at), HasSubstr(expected)) << err;
  EXPECT_THAT(err, Not(HasSubstr("terminate called")));
}

}  // namespace tiebreak::testing
