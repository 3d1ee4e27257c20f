// CPU kernels behind ops/ssd.cpp: the scans of Mamba2's SSD. Running sums are kept in double so
// long sequences lose no precision.
#pragma once
#include <cstdint>

namespace zebra::cpu {

// x, y: [outer, n, inner] contiguous; y[o, i, :] = sum of x[o, j, :] over j <= i, or over j >= i
// when `reverse` (cumsum's backward).
void cumsum(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool reverse);

// x: [rows, T] -> y: [rows, T, T]; y[i, j] = x[j+1] + ... + x[i] for j <= i, -inf for j > i.
void segsum_forward(const float* x, float* y, int64_t rows, int64_t T);
// g: [rows, T, T] -> dx: [rows, T]; dx[k] = sum of g[i, j] over j < k <= i (the -inf half is ignored).
void segsum_backward(const float* g, float* dx, int64_t rows, int64_t T);

}  // namespace zebra::cpu
