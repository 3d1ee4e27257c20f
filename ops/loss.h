// Losses over logits, fused with their softmax and with explicit backward kernels.
#pragma once
#include "core/tensor.h"

namespace zebra {

enum class Reduction { Mean, Sum, None };

// logits: [N, V] f32, targets: i32/i64 [N]. Rows whose target is ignore_index contribute nothing;
// Mean divides by the number of counted rows (0 rows -> 0). None returns [N] (0 at ignored rows).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::Mean);

// KL(p_teacher || p_student) per row with p = softmax(logits / temperature), summed over the
// vocabulary: [N, V] x [N, V]. Sum adds rows, Mean divides by N, None returns [N]. The gradient
// flows to the student only; the teacher is treated as a constant.
Tensor kl_div_logits(const Tensor& student_logits, const Tensor& teacher_logits, double temperature = 1.0,
                     Reduction reduction = Reduction::Sum);

}  // namespace zebra
