#pragma once

/// Umbrella header for tiebreak::models: the model zoo, its registry and initialization.

#include "tiebreak/models/densenet.h"
#include "tiebreak/models/init.h"
#include "tiebreak/models/lenet.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/models/options.h"
#include "tiebreak/models/registry.h"
#include "tiebreak/models/resnet.h"
#include "tiebreak/models/vgg.h"
