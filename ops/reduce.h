// Reductions over a set of axes (empty = all axes), forward + backward. f32 on CPU, accumulation
// in double.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace zebra {

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Gradient goes to the first maximal element of each reduced slice.
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting); used by rules.
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace zebra
