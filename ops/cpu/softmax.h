// CPU row kernels shared by softmax / log_softmax, cross-entropy and KL. Every row reduction
// subtracts the row maximum before exponentiating and accumulates its sum in double.
#pragma once
#include <cstdint>

namespace zebra::cpu {

// x, y, g, dx: [outer, n, inner] contiguous; the softmax runs over n (inner == 1 is the row case).
// y is softmax(x), or log_softmax(x) when `log`.
void softmax_forward(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log);
// y is the forward output; dx = y * (g - sum(g * y)), or g - exp(y) * sum(g) when `log`.
void softmax_backward(const float* y, const float* g, float* dx, int64_t outer, int64_t n, int64_t inner, bool log);

// Row statistics kept between a fused loss's forward and backward: with m = max(x),
// log_softmax(x * scale) = (x - m) * scale - logsum. stats: [rows, 2] = (m, logsum).

// logits: [N, V], targets: [N] (ignore_index or in [0, V), checked by the caller) -> loss: [N]
// (0 at ignored rows), stats: [N, 2].
void cross_entropy_forward(const float* logits, const int64_t* targets, int64_t rows, int64_t V, int64_t ignore_index,
                           float* loss, float* stats);
// dx: [N, V] = (softmax(logits) - onehot(target)) * row_scale; rows with row_scale 0 (ignored) get 0.
void cross_entropy_backward(const float* logits, const int64_t* targets, const float* stats, const float* row_scale,
                            int64_t rows, int64_t V, float* dx);

// student, teacher: [N, V] -> loss: [N] = KL(p_t || p_s) with p = softmax(x * inv_tau);
// s_stats, t_stats: [N, 2].
void kl_forward(const float* student, const float* teacher, int64_t rows, int64_t V, float inv_tau, float* loss,
                float* s_stats, float* t_stats);
// dx: [N, V] = (p_s - p_t) * row_scale (the caller folds 1/tau into row_scale).
void kl_backward(const float* student, const float* teacher, const float* s_stats, const float* t_stats,
                 const float* row_scale, int64_t rows, int64_t V, float inv_tau, float* dx);

}  // namespace zebra::cpu
