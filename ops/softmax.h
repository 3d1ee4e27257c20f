// softmax / log_softmax along one axis, numerically stable, forward + backward.
#pragma once
#include "core/tensor.h"

namespace zebra {

Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

}  // namespace zebra
