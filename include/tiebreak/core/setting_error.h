#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::core {

/// What a user changes to get past an error, as the library names it. The library's messages use these
/// words ("resume it or choose another run directory", "point data.root at ..."); each front end says how it
/// spells them (the CLI's flags: cli/app.cpp), so that no library message names a command-line flag.
enum class Setting {
  /// Continue the run already in the run directory (train::RunOptions::resume).
  Resume,
  /// Where a run or an experiment is written (train::RunOptions::run_dir and the experiment directory).
  RunDirectory,
  /// Where the datasets are (the config key `data.root`, else $TIEBREAK_DATA).
  DataRoot,
};

/// An error (or, for train::Interrupted, a stop) whose message tells the user to change one of
/// `settings()`, in the library's words. One line, like every error.
///
/// Example:
/// ```
/// throw SettingError(dir + ": already holds a run; resume it or choose another run directory",
///                    {Setting::Resume, Setting::RunDirectory});
/// // the CLI prints "...; resume it or choose another run directory (--resume, --out)"
/// ```
class SettingError : public std::runtime_error {
 public:
  SettingError(const std::string& message, std::vector<Setting> settings)
      : std::runtime_error(message), settings_(std::move(settings)) {}
  const std::vector<Setting>& settings() const { return settings_; }

 private:
  std::vector<Setting> settings_;
};

}  // namespace tiebreak::core
