// CPU kernels behind ops/embedding.h: row gather and its scatter-add gradient.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace zebra::cpu {

// weight: [V, D] f32 (any strides), ids: [N], each already checked to lie in [0, V) -> [N, D].
Tensor embedding_forward(const Tensor& weight, const std::vector<int64_t>& ids);

// g: [N, D] f32, ids: [N] -> dweight: [V, D], rows of g summed into the rows their ids name.
// Repeated ids are summed in double in position order, one id per task, so the result has no races
// and does not depend on the thread count.
Tensor embedding_backward(const Tensor& g, const std::vector<int64_t>& ids, int64_t V);

}  // namespace zebra::cpu
