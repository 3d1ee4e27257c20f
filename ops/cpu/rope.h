// CPU kernels behind ops/rope.h.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace zebra::cpu {

// cos, sin: [T, dim/2] f32 for positions pos_offset .. pos_offset+T-1. Angles pos * inv_freq[i] are
// taken in double; `scale` (the attention factor) multiplies both before the cast to f32.
struct RopeTable {
  Tensor cos, sin;
};
RopeTable rope_table(const std::vector<double>& inv_freq, double scale, int64_t T, int64_t pos_offset);

// x: [B, T, H, dim] contiguous f32 -> [B, T, H, dim]. Rotates pair i (half-split (i, i + dim/2) or
// interleaved (2i, 2i+1)) by the table's angle; inverse = true applies the transposed rotation, which
// is the backward of the forward one.
Tensor rope_apply(const Tensor& x, const RopeTable& table, bool interleaved, bool inverse);

}  // namespace zebra::cpu
