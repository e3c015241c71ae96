#pragma once

#include <filesystem>
#include <string>

namespace tiebreak {

/// The project's Python, which runs tiebreak's scripts (TensorBoard export, report plots): $TIEBREAK_PYTHON
/// when set and not empty, else the one the build was configured with (CMake's TIEBREAK_PYTHON, the venv
/// scripts/setup.sh makes). Not checked here: starting it reports a missing interpreter.
std::string project_python();

/// scripts/`name` of the project: under $TIEBREAK_SCRIPTS when set and not empty, else the scripts/ folder of
/// the checkout this program was built from. Not checked here.
///
/// Example:
/// ```
/// spawn_process(SpawnOptions{{project_python(), project_script("plot_report.py").string(), "out"}});
/// ```
std::filesystem::path project_script(const std::string& name);

}  // namespace tiebreak
