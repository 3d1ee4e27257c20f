#include "ops/cpu/conv.h"

#include <algorithm>
#include <vector>

#include "core/threadpool.h"

namespace zebra::cpu {

namespace {

// Channels per task: long enough to vectorise, short enough that wide layers give every thread work.
constexpr int64_t kChannelBlock = 64;

// wt: [K, C] = weight^T, so each tap reads a contiguous run of channels.
std::vector<float> taps_by_channel(const Tensor& weight) {
  const int64_t C = weight.size(0), K = weight.size(1);
  const float* w = weight.data<float>();
  std::vector<float> wt(size_t(K * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k) wt[size_t(k * C + c)] = w[c * K + k];
  return wt;
}

// dst[b, t, c] = sum_k wt[k, c] * src[b, t + dir * (K-1-k), c] over the taps inside [0, T): the
// forward reads back in time (dir = -1), its input gradient reads forward (dir = +1).
void depthwise_taps(const float* src, const float* wt, const float* bias, float* dst, int64_t B, int64_t T, int64_t C,
                    int64_t K, int64_t dir) {
  const int64_t ncb = (C + kChannelBlock - 1) / kChannelBlock;
  parallel_for(0, B * ncb, std::max<int64_t>(1, 4096 / (T * K + 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task / ncb, c0 = (task % ncb) * kChannelBlock, nc = std::min(kChannelBlock, C - c0);
      for (int64_t t = 0; t < T; ++t) {
        float* __restrict y = dst + (b * T + t) * C + c0;
        if (bias)
          std::copy(bias + c0, bias + c0 + nc, y);
        else
          std::fill(y, y + nc, 0.0f);
        for (int64_t k = 0; k < K; ++k) {
          const int64_t ts = t + dir * (K - 1 - k);
          if (ts < 0 || ts >= T) continue;
          const float* __restrict xs = src + (b * T + ts) * C + c0;
          const float* __restrict w = wt + k * C + c0;
          for (int64_t c = 0; c < nc; ++c) y[c] += w[c] * xs[c];
        }
      }
    }
  });
}

}  // namespace

Tensor conv1d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), K = weight.size(1);
  Tensor y = Tensor::empty(x.shape());
  std::vector<float> wt = taps_by_channel(weight);
  depthwise_taps(x.data<float>(), wt.data(), bias.defined() ? bias.data<float>() : nullptr, y.data<float>(), B, T, C, K,
                 -1);
  return y;
}

Conv1dGrads conv1d_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool need_dx, bool need_dweight,
                            bool need_dbias) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), K = weight.size(1);
  Conv1dGrads res;
  const float* gp = g.data<float>();
  if (need_dx) {
    res.dx = Tensor::empty(x.shape());
    std::vector<float> wt = taps_by_channel(weight);
    depthwise_taps(gp, wt.data(), nullptr, res.dx.data<float>(), B, T, C, K, +1);
  }
  if (!need_dweight && !need_dbias) return res;
  // g, x: [B, T, C] -> dweight: [C, K], dbias: [C]; one task per channel block.
  res.dweight = Tensor::empty(weight.shape());
  res.dbias = Tensor::empty({C});
  const float* xp = x.data<float>();
  float* dw = res.dweight.data<float>();
  float* db = res.dbias.data<float>();
  const int64_t ncb = (C + kChannelBlock - 1) / kChannelBlock;
  parallel_for(0, ncb, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(size_t((K + 1) * kChannelBlock));  // rows 0..K-1: taps, row K: bias
    for (int64_t cb = lo; cb < hi; ++cb) {
      const int64_t c0 = cb * kChannelBlock, nc = std::min(kChannelBlock, C - c0);
      std::fill(acc.begin(), acc.end(), 0.0);
      double* __restrict ab = acc.data() + K * kChannelBlock;
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t t = 0; t < T; ++t) {
          const float* __restrict gr = gp + (b * T + t) * C + c0;
          for (int64_t c = 0; c < nc; ++c) ab[c] += double(gr[c]);
          for (int64_t k = 0; k < K; ++k) {
            const int64_t ts = t - (K - 1 - k);
            if (ts < 0) continue;
            const float* __restrict xs = xp + (b * T + ts) * C + c0;
            double* __restrict ak = acc.data() + k * kChannelBlock;
            for (int64_t c = 0; c < nc; ++c) ak[c] += double(gr[c]) * double(xs[c]);
          }
        }
      }
      for (int64_t c = 0; c < nc; ++c) {
        for (int64_t k = 0; k < K; ++k) dw[(c0 + c) * K + k] = float(acc[size_t(k * kChannelBlock + c)]);
        db[c0 + c] = float(ab[c]);
      }
    }
  });
  if (!need_dweight) res.dweight = Tensor();
  if (!need_dbias) res.dbias = Tensor();
  return res;
}

}  // namespace zebra::cpu
