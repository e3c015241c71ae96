#pragma once

#include "tiebreak/core/setting_error.h"

#include <c10/util/StringUtil.h>

#include <string>
#include <vector>

namespace tiebreak::data {

/// A dataset file or data option is missing, truncated, corrupt or malformed.
/// The message is one line naming the file (or option) and what was expected,
/// so the command line can print it as is; `settings()` names what fixes it when that is a setting (a
/// missing file: data.root), which the command line spells as its flag.
///
/// Example:
/// ```
/// try {
///   auto mnist = make_dataset("mnist", DataOptions().root("/data"));
/// } catch (const DataError& e) {
///   std::cerr << e.what() << "\n";  // "mnist: /data/mnist/train-images-idx3-ubyte[.gz]: file not found ..."
/// }
/// ```
class DataError : public core::SettingError {
 public:
  explicit DataError(const std::string& message, std::vector<core::Setting> settings = {})
      : core::SettingError(message, std::move(settings)) {}
};

}  // namespace tiebreak::data

/// Throws `tiebreak::data::DataError` with the arguments concatenated (as
/// TORCH_CHECK does) unless `cond` holds.
#define TIEBREAK_DATA_CHECK(cond, ...)                            \
  do {                                                            \
    if (!(cond)) {                                                \
      throw ::tiebreak::data::DataError(::c10::str(__VA_ARGS__)); \
    }                                                             \
  } while (false)
