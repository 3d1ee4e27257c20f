// Embedding lookup; backward scatter-adds into the table (repeated ids accumulate).
#pragma once
#include "core/tensor.h"

namespace zebra {

// weight: [V, D] f32; ids: i32 or i64 of any shape, each in [0, V) -> [..., D].
Tensor embedding(const Tensor& weight, const Tensor& ids);

}  // namespace zebra
