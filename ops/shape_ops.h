// Tracked views and copies: reshape, transpose, permute, slice, concat, split, repeat_interleave,
// expand, cast. Views share storage with their input.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace zebra {

Tensor reshape(const Tensor& x, const Shape& shape);  // a view when possible, one -1 allowed
Tensor transpose(const Tensor& x, int64_t a, int64_t b);  // view
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // view
Tensor unsqueeze(const Tensor& x, int64_t axis);  // view
Tensor squeeze(const Tensor& x, int64_t axis);    // view; that axis must have size 1
Tensor expand(const Tensor& x, const Shape& shape);  // view with zero strides (broadcast)
// x[..., start:end:step, ...] along axis; negative start/end count from the end. View.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);  // views
// Each slice along axis repeated `repeats` times in place (torch.repeat_interleave), e.g. GQA heads.
Tensor repeat_interleave(const Tensor& x, int64_t repeats, int64_t axis);
Tensor contiguous(const Tensor& x);   // tracked copy when not already contiguous
Tensor cast(const Tensor& x, DType t);  // tracked dtype conversion (gradient cast back)

}  // namespace zebra
