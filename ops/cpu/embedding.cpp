#include "ops/cpu/embedding.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/threadpool.h"

namespace zebra::cpu {

namespace {
// Rows per parallel task so each task moves at least ~16K elements.
int64_t row_grain(int64_t D) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, D)); }
}  // namespace

Tensor embedding_forward(const Tensor& weight, const std::vector<int64_t>& ids) {
  const int64_t N = int64_t(ids.size()), D = weight.size(1);
  Tensor out = Tensor::empty({N, D});
  if (out.numel() == 0) return out;
  // weight: [V, D] strided; out: [N, D]
  const float* wp = weight.data<float>();
  const int64_t rs = weight.strides()[0], cs = weight.strides()[1];
  float* op = out.data<float>();
  parallel_for(0, N, row_grain(D), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* src = wp + ids[size_t(i)] * rs;
      float* dst = op + i * D;
      if (cs == 1) {
        std::memcpy(dst, src, size_t(D) * sizeof(float));
      } else {
        for (int64_t d = 0; d < D; ++d) dst[d] = src[d * cs];
      }
    }
  });
  return out;
}

Tensor embedding_backward(const Tensor& g_in, const std::vector<int64_t>& ids, int64_t V) {
  const int64_t N = int64_t(ids.size()), D = g_in.size(-1);
  Tensor gw = Tensor::zeros({V, D});
  if (N == 0 || D == 0) return gw;
  // g: [N, D]; gw: [V, D]
  const Tensor g = g_in.contiguous();
  const float* gp = g.data<float>();
  float* wp = gw.data<float>();
  // Positions grouped by id, ascending within each group: each group is one task's row of gw.
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return ids[size_t(x)] < ids[size_t(y)]; });
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < N; ++i)
    if (i == 0 || ids[size_t(order[size_t(i)])] != ids[size_t(order[size_t(i - 1)])]) starts.push_back(i);
  starts.push_back(N);
  const int64_t groups = int64_t(starts.size()) - 1;
  parallel_for(0, groups, row_grain(D), [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(static_cast<size_t>(D));
    for (int64_t grp = lo; grp < hi; ++grp) {
      const int64_t first = starts[size_t(grp)], last = starts[size_t(grp + 1)];
      float* dst = wp + ids[size_t(order[size_t(first)])] * D;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = first; j < last; ++j) {
        const float* src = gp + order[size_t(j)] * D;
        for (int64_t d = 0; d < D; ++d) acc[size_t(d)] += double(src[d]);
      }
      for (int64_t d = 0; d < D; ++d) dst[d] = float(acc[size_t(d)]);
    }
  });
  return gw;
}

}  // namespace zebra::cpu
