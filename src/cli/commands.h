#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace tiebreak::cli {

/// A subcommand's action, run after the whole command line parsed; returns the
/// process exit code.
using Action = std::function<int()>;

/// Integer flag checks whose messages say what was expected ("--jobs: expected
/// a positive integer, got '0'") where CLI11's own ranges print their bounds as
/// 309-digit numbers; non-numbers ("abc") fail the same way.
const CLI::Validator& positive_integer();
const CLI::Validator& non_negative_integer();

/// A number flag's value (e.g. --range, --betas): finite, the whole text;
/// otherwise a std::runtime_error "FLAG: expected a finite number, got 'TEXT'".
double parse_finite_number(const std::string& text, const std::string& flag);

/// `--data-root DIR` on a command that loads a config (train, sweep, zones, lr-search), as on `data
/// verify`: the folder holding one folder per dataset. It becomes the override `data.root="DIR"`
/// (`append_data_root`), after every `--set`, so it wins over `--set data.root=...`. The data root is
/// where the files are, not what a run computes: resuming with another one is allowed.
CLI::Option* add_data_root_option(CLI::App* command, std::string& root);
/// Appends `data.root=<DIR as a JSON string>` to `overrides` when `root` is not empty (a JSON string,
/// so that a folder named `123` or `true` stays a path).
void append_data_root(std::vector<std::string>& overrides, const std::string& root);

/// Commands that run many trainings each (sweep, lr-search) refuse a torchrun/srun launch: every rank would
/// run the whole command. Throws a std::runtime_error naming `command` and the launcher when this process
/// is one rank of several; `tiebreak train` is the data-parallel one.
void refuse_distributed_launch(const std::string& command);

/// The arguments this process was started with (argv[0] included), set by `run`: what run.json's
/// `command` records, quoted for the shell (tiebreak::shell_command).
const std::vector<std::string>& process_arguments();

/// Each `add_*_command` adds one subcommand to `app` and stores the action to
/// run when that subcommand is chosen. Registered in app.cpp, implemented in a
/// file of its own.
void add_demo_command(CLI::App& app, Action& action);
void add_data_command(CLI::App& app, Action& action);
/// `tiebreak train CONFIG [--set k=v]... [--out DIR] [--resume] [--run-id K]`.
void add_train_command(CLI::App& app, Action& action);
/// `tiebreak sweep CONFIG --grid k=v1,v2... [--runs N] [--shard i/n] [--jobs N] [--out DIR]`.
void add_sweep_command(CLI::App& app, Action& action);
/// `tiebreak compare DIR... [--csv]`.
void add_compare_command(CLI::App& app, Action& action);

/// `tiebreak zones CONFIG --pair nonsmooth.KEY=A,B [--precision fp16,fp32,fp64] [--epochs N] [--train]
/// [--threshold p=v,...] [--out DIR] [--set k=v]... [--nondeterministic] [--batch-limit N]`.
void add_zones_command(CLI::App& app, Action& action);
/// `tiebreak diverge CONFIG --values nonsmooth.KEY=REF,V1,... [--epochs N] [--lr-jitter J] [--resume]`.
void add_diverge_command(CLI::App& app, Action& action);
/// `tiebreak report RUNS_DIR... [--reference study] [--out DIR]`.
void add_report_command(CLI::App& app, Action& action);
/// `tiebreak lr-search CONFIG [--trials N] [--epochs N] [--range lo,hi] [--betas b,...]`.
void add_lr_search_command(CLI::App& app, Action& action);

/// `tiebreak half-check CONFIG [--set k=v]... [--batches N] [--json FILE]`.
void add_half_check_command(CLI::App& app, Action& action);

/// `tiebreak config CONFIG [--set k=v]... [--data-root DIR]`: resolves and validates a config without
/// running anything and prints it as the run's config.json would hold it (Hydra's `--cfg job`).
void add_config_command(CLI::App& app, Action& action);

/// `tiebreak evaluate RUN_DIR|CHECKPOINT [--set k=v]... [--data-root DIR] [--json]`: the test pass of a
/// trained run (train::evaluate_checkpoint), without training.
void add_evaluate_command(CLI::App& app, Action& action);

/// Builds the command line, runs the chosen subcommand, and turns every error
/// into one line on stderr and a non-zero exit code.
int run(int argc, char** argv);

}  // namespace tiebreak::cli
