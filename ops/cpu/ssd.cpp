#include "ops/cpu/ssd.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/threadpool.h"

namespace zebra::cpu {

namespace {
// Columns per cumsum task: wide enough to vectorise, narrow enough to split wide inputs.
constexpr int64_t kColumnBlock = 256;
// Items per parallel task so each touches at least ~16K elements.
int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, work_per_item));
}
}  // namespace

void cumsum(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  const int64_t ncb = (inner + kColumnBlock - 1) / kColumnBlock, width = std::min(inner, kColumnBlock);
  parallel_for(0, outer * ncb, grain_for(n * width), [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(static_cast<size_t>(width));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t o = task / ncb, c0 = (task % ncb) * kColumnBlock, nc = std::min(kColumnBlock, inner - c0);
      std::fill(acc.begin(), acc.end(), 0.0);
      double* __restrict a = acc.data();
      for (int64_t step = 0; step < n; ++step) {
        const int64_t i = reverse ? n - 1 - step : step;
        const float* __restrict xr = x + (o * n + i) * inner + c0;
        float* __restrict yr = y + (o * n + i) * inner + c0;
        for (int64_t c = 0; c < nc; ++c) {
          a[c] += double(xr[c]);
          yr[c] = float(a[c]);
        }
      }
    }
  });
}

void segsum_forward(const float* x, float* y, int64_t rows, int64_t T) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  parallel_for(0, rows, grain_for(T * T), [&](int64_t lo, int64_t hi) {
    // acc[j] = x[j+1] + ... + x[i] while row i is written: each column accumulates directly, never
    // as a difference of two long prefix sums.
    std::vector<double> acc(static_cast<size_t>(T));
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * T;
      double* __restrict a = acc.data();
      for (int64_t i = 0; i < T; ++i) {
        float* __restrict yr = y + (r * T + i) * T;
        const double xi = xr[i];
        for (int64_t j = 0; j < i; ++j) {
          a[j] += xi;
          yr[j] = float(a[j]);
        }
        a[i] = 0.0;
        yr[i] = 0.0f;
        std::fill(yr + i + 1, yr + T, neg_inf);
      }
    }
  });
}

void segsum_backward(const float* g, float* dx, int64_t rows, int64_t T) {
  parallel_for(0, rows, grain_for(T * T), [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(static_cast<size_t>(T));
    for (int64_t r = lo; r < hi; ++r) {
      std::fill(acc.begin(), acc.end(), 0.0);
      // Row i adds to every k <= i the prefix g[i, 0] + ... + g[i, k-1].
      for (int64_t i = 0; i < T; ++i) {
        const float* gr = g + (r * T + i) * T;
        double run = 0.0;
        for (int64_t k = 1; k <= i; ++k) {
          run += double(gr[k - 1]);
          acc[size_t(k)] += run;
        }
      }
      for (int64_t k = 0; k < T; ++k) dx[r * T + k] = float(acc[size_t(k)]);
    }
  });
}

}  // namespace zebra::cpu
