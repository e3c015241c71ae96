#include "tiebreak/train/interrupt.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <cstring>

namespace tiebreak::train {

namespace {

std::atomic<int> requested{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");
std::atomic<bool> installed{false};

extern "C" void on_stop_signal(int signal) {
  int none = 0;
  if (requested.compare_exchange_strong(none, signal)) return;
  // A second Ctrl-C: the user wants out now, and the default action ends the process as the signal would.
  // A repeated SIGTERM changes nothing: the kernel sends PR_SET_PDEATHSIG's once per thread of a dying
  // multi-threaded parent, and SIGKILL is what forces.
  if (signal != SIGINT) return;
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

}  // namespace

StopOnSignals::StopOnSignals() {
  TORCH_CHECK(!installed.exchange(true), "StopOnSignals: expected one at a time in a process");
  requested = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // Interrupted system calls restart: a stop request is only looked at between steps, never mid-write.
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, &previous_int_);
  ::sigaction(SIGTERM, &action, &previous_term_);
}

StopOnSignals::~StopOnSignals() {
  ::sigaction(SIGINT, &previous_int_, nullptr);
  ::sigaction(SIGTERM, &previous_term_, nullptr);
  installed = false;
}

int stop_requested() noexcept { return requested.load(std::memory_order_relaxed); }

void request_stop(int signal) noexcept {
  int none = 0;
  requested.compare_exchange_strong(none, signal);
}

void clear_stop_request() noexcept { requested = 0; }

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

void throw_if_stop_requested(const std::string& where) {
  if (const int s = stop_requested()) throw Interrupted(s, where + ": interrupted by " + signal_name(s));
}

}  // namespace tiebreak::train
