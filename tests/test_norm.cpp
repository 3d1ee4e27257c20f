#include <cmath>

#include "autograd/node.h"
#include "ops/norm.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

using test::all_close;
using test::noncontig;
using test::param;
using test::rand;
using test::randn;

double silu_d(double v) { return v / (1.0 + std::exp(-v)); }
double dsilu_d(double v) {
  double s = 1.0 / (1.0 + std::exp(-v));
  return s * (1.0 + v * (1.0 - s));
}

// Double-precision reference of mamba_ssm's rms_norm_ref, which is also plain RMSNorm when `z` is
// empty and group == D. x, z: [N, D]; w: [D].
std::vector<double> ref_norm(const std::vector<double>& x, const std::vector<double>& z, const std::vector<double>& w,
                             int64_t D, double eps, int64_t group, bool norm_before_gate) {
  const bool gated = !z.empty();
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / size_t(D); ++r) {
    for (int64_t k = 0; k < D / group; ++k) {
      std::vector<double> u(static_cast<size_t>(group));
      double ss = 0.0;
      for (int64_t j = 0; j < group; ++j) {
        size_t i = r * size_t(D) + size_t(k * group + j);
        u[size_t(j)] = gated && !norm_before_gate ? x[i] * silu_d(z[i]) : x[i];
        ss += u[size_t(j)] * u[size_t(j)];
      }
      double rstd = 1.0 / std::sqrt(ss / double(group) + eps);
      for (int64_t j = 0; j < group; ++j) {
        size_t i = r * size_t(D) + size_t(k * group + j);
        y[i] = u[size_t(j)] * rstd * w[size_t(k * group + j)];
        if (gated && norm_before_gate) y[i] *= silu_d(z[i]);
      }
    }
  }
  return y;
}

// The same reference's gradients for the loss sum(y * gy), derived by hand per group:
// u_hat = u * rstd, du = rstd * (w*gn - u_hat * mean(u_hat*w*gn)) with gn the gradient at u_hat*w.
struct RefGrads {
  std::vector<double> dx, dz, dw;
};
RefGrads ref_norm_grads(const std::vector<double>& x, const std::vector<double>& z, const std::vector<double>& w,
                        const std::vector<double>& gy, int64_t D, double eps, int64_t group, bool norm_before_gate) {
  const bool gated = !z.empty();
  RefGrads g{std::vector<double>(x.size()), std::vector<double>(z.size()), std::vector<double>(size_t(D), 0.0)};
  for (size_t r = 0; r < x.size() / size_t(D); ++r) {
    for (int64_t k = 0; k < D / group; ++k) {
      std::vector<double> u(static_cast<size_t>(group)), gn(static_cast<size_t>(group));
      double ss = 0.0;
      for (int64_t j = 0; j < group; ++j) {
        size_t i = r * size_t(D) + size_t(k * group + j);
        u[size_t(j)] = gated && !norm_before_gate ? x[i] * silu_d(z[i]) : x[i];
        gn[size_t(j)] = gated && norm_before_gate ? gy[i] * silu_d(z[i]) : gy[i];
        ss += u[size_t(j)] * u[size_t(j)];
      }
      double rstd = 1.0 / std::sqrt(ss / double(group) + eps);
      double m = 0.0;
      for (int64_t j = 0; j < group; ++j) m += u[size_t(j)] * rstd * w[size_t(k * group + j)] * gn[size_t(j)];
      m /= double(group);
      for (int64_t j = 0; j < group; ++j) {
        size_t c = size_t(k * group + j), i = r * size_t(D) + c;
        double uh = u[size_t(j)] * rstd;
        double du = rstd * (w[c] * gn[size_t(j)] - uh * m);
        g.dw[c] += gn[size_t(j)] * uh;
        if (!gated) {
          g.dx[i] = du;
        } else if (!norm_before_gate) {
          g.dx[i] = du * silu_d(z[i]);
          g.dz[i] = du * x[i] * dsilu_d(z[i]);
        } else {
          g.dx[i] = du;
          g.dz[i] = gy[i] * uh * w[c] * dsilu_d(z[i]);
        }
      }
    }
  }
  return g;
}

TEST(RmsNorm, ForwardMatchesReference) {
  for (Shape shape : {Shape{3, 5}, Shape{7, 67}, Shape{2, 3, 67}, Shape{13}}) {
    const int64_t D = shape.back();
    Tensor x = randn(shape, 1, 2.0), w = rand({D}, 2, 0.5, 1.5);
    Tensor y = rms_norm(x, w, 1e-5);
    EXPECT_EQ(y.shape(), shape);
    EXPECT_TRUE(all_close(y, ref_norm(x.to_double(), {}, w.to_double(), D, 1e-5, D, false))) << shape_str(shape);
  }
}

TEST(RmsNorm, EpsDominatesTinyRows) {
  Tensor x = Tensor::full({2, 5}, 1e-4), w = Tensor::ones({5});
  Tensor y = rms_norm(x, w, 1e-2);
  EXPECT_TRUE(all_close(y, std::vector<double>(10, 1e-4 / std::sqrt(1e-8 + 1e-2)), 1e-9, 1e-5));
}

TEST(RmsNorm, NonContiguousInputs) {
  Tensor x = randn({7, 67}, 3), w = rand({67}, 4, 0.5, 1.5);
  Tensor y = rms_norm(noncontig(x), noncontig(w), 1e-6);
  EXPECT_TRUE(all_close(y, ref_norm(x.to_double(), {}, w.to_double(), 67, 1e-6, 67, false)));
}

TEST(RmsNorm, Gradcheck) {
  auto f = [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-5); };
  EXPECT_GRADCHECK(f, std::vector<Tensor>({param(randn({3, 5}, 5)), param(rand({5}, 6, 0.5, 1.5))}));
  EXPECT_GRADCHECK(f, std::vector<Tensor>({param(randn({2, 2, 7}, 7)), Tensor(rand({7}, 8, 0.5, 1.5))}));
}

// Enough rows for several dweight chunks and threads, against the hand-derived double reference.
TEST(RmsNorm, BackwardMatchesReference) {
  const int64_t N = 1001, D = 67;
  Tensor x = param(randn({N, D}, 9)), w = param(rand({D}, 10, 0.5, 1.5));
  Tensor gy = randn({N, D}, 11);
  rms_norm(x, w, 1e-5).backward(gy);
  RefGrads ref = ref_norm_grads(x.to_double(), {}, w.to_double(), gy.to_double(), D, 1e-5, D, false);
  EXPECT_TRUE(all_close(x.grad(), ref.dx, 1e-5, 1e-4));
  EXPECT_TRUE(all_close(w.grad(), ref.dw, 1e-4, 1e-4));
}

TEST(RmsNorm, NonContiguousGradient) {
  Tensor x = param(randn({5, 13}, 12)), w = param(rand({13}, 13, 0.5, 1.5));
  Tensor gy = randn({5, 13}, 14);
  rms_norm(x, w, 1e-5).backward(noncontig(gy));
  RefGrads ref = ref_norm_grads(x.to_double(), {}, w.to_double(), gy.to_double(), 13, 1e-5, 13, false);
  EXPECT_TRUE(all_close(x.grad(), ref.dx, 1e-5, 1e-4));
  EXPECT_TRUE(all_close(w.grad(), ref.dw, 1e-5, 1e-4));
}

TEST(RmsNorm, FrozenWeightGetsNoGradient) {
  Tensor x = param(randn({3, 5}, 15)), w = rand({5}, 16, 0.5, 1.5);
  rms_norm(x, w, 1e-5).backward(Tensor::ones({3, 5}));
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(RmsNorm, Errors) {
  Tensor x = randn({3, 5}, 17);
  EXPECT_ERROR(rms_norm(x, Tensor::ones({4}), 1e-5), "does not match the last axis");
  EXPECT_ERROR(rms_norm(x, Tensor::ones({1, 5}), 1e-5), "'weight' must have rank 1");
  EXPECT_ERROR(rms_norm(Tensor::scalar(1.0), Tensor::ones({1}), 1e-5), "at least one axis");
  EXPECT_ERROR(rms_norm(x, Tensor::ones({5}), -1.0), "eps");
  EXPECT_ERROR(rms_norm(Tensor::zeros({3, 5}, DType::I32), Tensor::ones({5}), 1e-5), "'x' must be f32");
  EXPECT_ERROR(rms_norm(Tensor(), Tensor::ones({5}), 1e-5), "undefined");
  EXPECT_ERROR(rms_norm(Tensor::zeros({3, 0}), Tensor::ones({0}), 1e-5), "empty last axis");
}

struct GatedCase {
  Shape shape;
  int64_t group;
};

TEST(GatedRmsNorm, ForwardMatchesReference) {
  for (bool nbg : {false, true}) {
    for (GatedCase c : {GatedCase{{7, 67}, 67}, GatedCase{{3, 15}, 5}, GatedCase{{2, 3, 64}, 16}}) {
      const int64_t D = c.shape.back();
      Tensor x = randn(c.shape, 20, 2.0), z = randn(c.shape, 21, 2.0), w = rand({D}, 22, 0.5, 1.5);
      Tensor y = gated_rms_norm(x, z, w, 1e-5, c.group, nbg);
      EXPECT_TRUE(all_close(y, ref_norm(x.to_double(), z.to_double(), w.to_double(), D, 1e-5, c.group, nbg)))
          << shape_str(c.shape) << " group " << c.group << " norm_before_gate " << nbg;
    }
  }
}

// The two gate placements differ: a test that mixed them up would pass the reference above only by luck.
TEST(GatedRmsNorm, GatePlacementMatters) {
  Tensor x = randn({3, 8}, 23), z = randn({3, 8}, 24), w = Tensor::ones({8});
  std::vector<double> a = gated_rms_norm(x, z, w, 1e-5, 4, false).to_double();
  std::vector<double> b = gated_rms_norm(x, z, w, 1e-5, 4, true).to_double();
  double diff = 0.0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i]));
  EXPECT_GT(diff, 1e-2);
}

TEST(GatedRmsNorm, NonContiguousInputs) {
  for (bool nbg : {false, true}) {
    Tensor x = randn({5, 12}, 25), z = randn({5, 12}, 26), w = rand({12}, 27, 0.5, 1.5);
    Tensor y = gated_rms_norm(noncontig(x), noncontig(z), noncontig(w), 1e-5, 4, nbg);
    EXPECT_TRUE(all_close(y, ref_norm(x.to_double(), z.to_double(), w.to_double(), 12, 1e-5, 4, nbg)));
  }
}

TEST(GatedRmsNorm, Gradcheck) {
  for (bool nbg : {false, true}) {
    for (int64_t group : {6, 3}) {
      auto f = [nbg, group](const std::vector<Tensor>& in) {
        return gated_rms_norm(in[0], in[1], in[2], 1e-5, group, nbg);
      };
      SCOPED_TRACE(str("norm_before_gate ", nbg, " group ", group));
      EXPECT_GRADCHECK(f, std::vector<Tensor>({param(randn({3, 6}, 30)), param(randn({3, 6}, 31)),
                                               param(rand({6}, 32, 0.5, 1.5))}));
    }
  }
}

TEST(GatedRmsNorm, BackwardMatchesReference) {
  for (bool nbg : {false, true}) {
    for (int64_t group : {67 * 2, 67}) {
      const int64_t N = 503, D = 134;
      Tensor x = param(randn({N, D}, 33)), z = param(randn({N, D}, 34)), w = param(rand({D}, 35, 0.5, 1.5));
      Tensor gy = randn({N, D}, 36);
      gated_rms_norm(x, z, w, 1e-5, group, nbg).backward(gy);
      RefGrads ref = ref_norm_grads(x.to_double(), z.to_double(), w.to_double(), gy.to_double(), D, 1e-5, group, nbg);
      SCOPED_TRACE(str("norm_before_gate ", nbg, " group ", group));
      EXPECT_TRUE(all_close(x.grad(), ref.dx, 1e-5, 1e-4));
      EXPECT_TRUE(all_close(z.grad(), ref.dz, 1e-5, 1e-4));
      EXPECT_TRUE(all_close(w.grad(), ref.dw, 1e-4, 1e-4));
    }
  }
}

TEST(GatedRmsNorm, OnlyRequestedGradients) {
  Tensor x = randn({3, 6}, 37), z = param(randn({3, 6}, 38)), w = rand({6}, 39, 0.5, 1.5);
  Tensor gy = randn({3, 6}, 40);
  gated_rms_norm(x, z, w, 1e-5, 3, false).backward(gy);
  RefGrads ref = ref_norm_grads(x.to_double(), z.to_double(), w.to_double(), gy.to_double(), 6, 1e-5, 3, false);
  EXPECT_TRUE(all_close(z.grad(), ref.dz, 1e-5, 1e-4));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(GatedRmsNorm, Errors) {
  Tensor x = randn({3, 6}, 41), w = Tensor::ones({6});
  EXPECT_ERROR(gated_rms_norm(x, randn({3, 5}, 42), w, 1e-5, 6), "must have the shape of x");
  EXPECT_ERROR(gated_rms_norm(x, x, w, 1e-5, 4), "group_size 4");
  EXPECT_ERROR(gated_rms_norm(x, x, w, 1e-5, 0), "group_size 0");
  EXPECT_ERROR(gated_rms_norm(x, x, Tensor::ones({5}), 1e-5, 6), "does not match the last axis");
  EXPECT_ERROR(gated_rms_norm(x, Tensor::zeros({3, 6}, DType::I32), w, 1e-5, 6), "'z' must be f32");
  EXPECT_ERROR(gated_rms_norm(x, Tensor(), w, 1e-5, 6), "'z' is an undefined");
}

}  // namespace
}  // namespace zebra
