#pragma once

#include <string>
#include <vector>

namespace tiebreak::train {

/// `argv` as one line a POSIX shell reads back into the same arguments: each argument that holds anything
/// but letters, digits and `@%+=:,./-_` is single-quoted (a `'` inside becomes `'\''`), an empty one is `''`.
/// What run.json's `command` holds, so that pasting it (in the run's `working_directory`) reproduces the run.
///
/// Example: `shell_command({"tiebreak", "train", "c.json", "--set", "data.root=\"/my data\""})`
/// is `tiebreak train c.json --set 'data.root="/my data"'`.
std::string shell_command(const std::vector<std::string>& argv);

}  // namespace tiebreak::train
