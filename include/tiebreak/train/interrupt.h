#pragma once

#include "tiebreak/core/setting_error.h"

#include <csignal>
#include <string>
#include <vector>

namespace tiebreak::train {

/// While alive, SIGINT and SIGTERM ask this process to stop instead of killing
/// it: the first one is recorded (stop_requested()) and the training loops stop
/// at their next safe point (between two steps, before anything of the step is
/// kept), record the run as interrupted with its last checkpoint, and raise
/// Interrupted. A second SIGINT (Ctrl-C twice) ends the process at once with
/// the signal's default action, as kill -9 would: the last checkpoint stays
/// usable, the run directory's lock is released, and run.json keeps its last
/// status. Repeated SIGTERMs change nothing (a dying multi-threaded parent
/// sends its children's PR_SET_PDEATHSIG signal once per thread); SIGKILL
/// forces.
/// The destructor restores the previous handlers. One at a time per process.
///
/// Example:
/// ```
/// StopOnSignals stop;  // in a command's action, around the training
/// try { train_experiment(...); } catch (const Interrupted& e) { return e.exit_code(); }
/// ```
class StopOnSignals {
 public:
  StopOnSignals();
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

/// The signal that asked this process to stop (SIGINT or SIGTERM), or 0.
int stop_requested() noexcept;

/// Asks the training loops to stop as the signal `signal` would (what the
/// StopOnSignals handler does; tests and embedding programs call it directly).
void request_stop(int signal) noexcept;

/// Forgets a stop request (the next run trains again).
void clear_stop_request() noexcept;

/// "SIGINT", "SIGTERM", or "signal N".
std::string signal_name(int signal);

/// Thrown where a run or a command stops because of stop_requested(). The
/// message is one line saying what was kept and how to continue (in the
/// library's words: "resuming continues from it", with `settings()` naming
/// core::Setting::Resume for a front end to spell); exit_code() is the shell's
/// convention, 128 + signal (130 for SIGINT, 143 for SIGTERM).
class Interrupted : public core::SettingError {
 public:
  Interrupted(int signal, const std::string& message, std::vector<core::Setting> settings = {})
      : core::SettingError(message, std::move(settings)), signal_(signal) {}
  int signal() const { return signal_; }
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

/// Throws Interrupted("`where`: interrupted by SIG...") when a stop was requested.
void throw_if_stop_requested(const std::string& where);

}  // namespace tiebreak::train
