#include "tiebreak/data/options.h"

namespace tiebreak::data {

const char* to_string(Split split) { return split == Split::Train ? "train" : "test"; }

}  // namespace tiebreak::data
