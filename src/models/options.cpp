#include "tiebreak/models/options.h"

#include <c10/util/Exception.h>

namespace tiebreak::models {

Stem parse_stem(const std::string& name) {
  if (name == "cifar") return Stem::Cifar;
  if (name == "imagenet") return Stem::ImageNet;
  TORCH_CHECK(false, "model stem: expected \"cifar\" or \"imagenet\", got \"", name, "\"");
}

std::string to_string(Stem stem) { return stem == Stem::Cifar ? "cifar" : "imagenet"; }

namespace {
const std::pair<InitScheme, const char*> kInitNames[] = {
    {InitScheme::PytorchDefault, "pytorch_default"},
    {InitScheme::Kaiming, "kaiming"},
    {InitScheme::TorchvisionResNet, "torchvision_resnet"},
    {InitScheme::TorchvisionDenseNet, "torchvision_densenet"}};
}  // namespace

InitScheme parse_init_scheme(const std::string& name) {
  for (const auto& [scheme, text] : kInitNames)
    if (name == text) return scheme;
  TORCH_CHECK(false,
              "model init: expected \"pytorch_default\", \"kaiming\", \"torchvision_resnet\" or "
              "\"torchvision_densenet\", got \"",
              name, "\"");
}

std::string to_string(InitScheme scheme) {
  for (const auto& [s, text] : kInitNames)
    if (s == scheme) return text;
  TORCH_INTERNAL_ASSERT(false, "unknown InitScheme");
}

ModelVariant parse_model_variant(const std::string& name) {
  if (name == "torchvision") return ModelVariant::Torchvision;
  if (name == "study") return ModelVariant::Study;
  TORCH_CHECK(false, "model variant: expected \"torchvision\" or \"study\", got \"", name, "\"");
}

std::string to_string(ModelVariant variant) {
  return variant == ModelVariant::Torchvision ? "torchvision" : "study";
}

}  // namespace tiebreak::models
