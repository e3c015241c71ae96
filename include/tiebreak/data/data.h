#pragma once

/// Umbrella header of tiebreak::data: datasets, loaders, transforms and verification.
#include "tiebreak/data/checksums.h"
#include "tiebreak/data/cifar.h"
#include "tiebreak/data/dataset.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/idx.h"
#include "tiebreak/data/imagenet.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/options.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/data/svhn.h"
#include "tiebreak/data/synthetic.h"
#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/data/transforms.h"
#include "tiebreak/data/verify.h"
