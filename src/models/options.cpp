#include "tiebreak/models/options.h"

#include <c10/util/Exception.h>

namespace tiebreak::models {

Stem parse_stem(const std::string& name) {
  if (name == "cifar") return Stem::Cifar;
  if (name == "imagenet") return Stem::ImageNet;
  TORCH_CHECK(false, "model stem: expected \"cifar\" or \"imagenet\", got \"", name, "\"");
}

std::string to_string(Stem stem) { return stem == Stem::Cifar ? "cifar" : "imagenet"; }

InitScheme parse_init_scheme(const std::string& name) {
  if (name == "pytorch_default") return InitScheme::PytorchDefault;
  if (name == "kaiming") return InitScheme::Kaiming;
  TORCH_CHECK(false, "model init: expected \"pytorch_default\" or \"kaiming\", got \"", name, "\"");
}

std::string to_string(InitScheme scheme) {
  return scheme == InitScheme::PytorchDefault ? "pytorch_default" : "kaiming";
}

}  // namespace tiebreak::models
