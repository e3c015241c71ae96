#pragma once

#include <c10/util/StringUtil.h>

#include <stdexcept>
#include <string>

namespace tiebreak::data {

/// A dataset file or data option is missing, truncated, corrupt or malformed.
/// The message is one line naming the file (or option) and what was expected,
/// so the command line can print it as is.
///
/// Example:
/// ```
/// try {
///   auto mnist = make_dataset("mnist", DataOptions().root("/data"));
/// } catch (const DataError& e) {
///   std::cerr << e.what() << "\n";  // "mnist: /data/mnist/train-images-idx3-ubyte[.gz]: file not found ..."
/// }
/// ```
class DataError : public std::runtime_error {
 public:
  explicit DataError(const std::string& message) : std::runtime_error(message) {}
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
