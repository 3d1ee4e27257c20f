// svd: reconstruction, orthonormal factors, ordered singular values against known cases, tall and
// wide shapes, strided input, and every rejected input.
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "ops/linalg.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

using test::all_close;

// U diag(S) Vt in double; U: [M, k], S: [k], Vt: [k, N].
std::vector<double> reconstruct(const Svd& r) {
  const std::vector<double> u = r.U.to_double(), s = r.S.to_double(), vt = r.Vt.to_double();
  const int64_t M = r.U.size(0), k = r.S.size(0), N = r.Vt.size(1);
  std::vector<double> out(size_t(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < k; ++j) out[size_t(m * N + n)] += u[size_t(m * k + j)] * s[size_t(j)] * vt[size_t(j * N + n)];
  return out;
}

// Largest |Q^T Q - I| over the columns of q: [R, C] (by_rows: over its rows, Q Q^T).
double orthonormality_error(const Tensor& q, bool by_rows) {
  const std::vector<double> v = q.to_double();
  const int64_t R = q.size(0), C = q.size(1);
  const int64_t n = by_rows ? R : C, len = by_rows ? C : R;
  auto at = [&](int64_t vec, int64_t i) { return by_rows ? v[size_t(vec * C + i)] : v[size_t(i * C + vec)]; };
  double worst = 0.0;
  for (int64_t x = 0; x < n; ++x)
    for (int64_t y = 0; y < n; ++y) {
      double d = 0.0;
      for (int64_t i = 0; i < len; ++i) d += at(x, i) * at(y, i);
      worst = std::max(worst, std::fabs(d - (x == y ? 1.0 : 0.0)));
    }
  return worst;
}

void expect_valid_svd(const Tensor& a, const Svd& r) {
  const int64_t M = a.size(0), N = a.size(1), k = std::min(M, N);
  ASSERT_EQ(r.U.shape(), (Shape{M, k}));
  ASSERT_EQ(r.S.shape(), (Shape{k}));
  ASSERT_EQ(r.Vt.shape(), (Shape{k, N}));
  EXPECT_EQ(r.U.dtype(), DType::F32);
  EXPECT_EQ(r.S.dtype(), DType::F32);
  EXPECT_EQ(r.Vt.dtype(), DType::F32);
  EXPECT_TRUE(all_close(Tensor::from_vector(reconstruct(r), {M, N}), a, 1e-5, 1e-5)) << a.summary();
  EXPECT_LT(orthonormality_error(r.U, false), 1e-5) << a.summary();
  EXPECT_LT(orthonormality_error(r.Vt, true), 1e-5) << a.summary();
  const std::vector<double> s = r.S.to_double();
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_GE(s[i], 0.0);
    if (i > 0) {
      EXPECT_LE(s[i], s[i - 1]) << "singular values not descending at " << i;
    }
  }
}

TEST(Svd, RandomTallWideAndSquare) {
  uint64_t seed = 1;
  for (const Shape& shape : {Shape{7, 5}, Shape{5, 7}, Shape{13, 13}, Shape{67, 13}, Shape{3, 33}, Shape{1, 5},
                             Shape{5, 1}, Shape{1, 1}}) {
    Tensor a = test::rand(shape, seed++);
    expect_valid_svd(a, svd(a));
  }
}

TEST(Svd, KnownSingularValues) {
  // diag(3, -1, 2) has singular values 3, 2, 1.
  Tensor d = Tensor::from_vector(std::vector<float>{3, 0, 0, 0, -1, 0, 0, 0, 2}, {3, 3});
  Svd rd = svd(d);
  expect_valid_svd(d, rd);
  EXPECT_TRUE(all_close(rd.S, std::vector<double>{3, 2, 1}, 1e-6, 1e-6));
  // The outer product u v^T (rank 1) has one singular value |u| |v| = 3 * 5, the rest zero.
  const std::vector<float> u{1, 2, 2}, v{3, 4, 0, 0};
  std::vector<float> outer;
  for (float x : u)
    for (float y : v) outer.push_back(x * y);
  Tensor r1 = Tensor::from_vector(outer, {3, 4});
  Svd rr = svd(r1);
  expect_valid_svd(r1, rr);
  EXPECT_TRUE(all_close(rr.S, std::vector<double>{15, 0, 0}, 1e-5, 1e-6));
  // A zero matrix: every singular value is zero, and the factors are still orthonormal.
  Tensor z = Tensor::zeros({4, 2});
  Svd rz = svd(z);
  expect_valid_svd(z, rz);
  EXPECT_TRUE(all_close(rz.S, std::vector<double>{0, 0}, 0.0, 0.0));
}

TEST(Svd, StridedInput) {
  Tensor a = test::rand({5, 7}, 11);
  Tensor an = test::noncontig(a);
  Svd r = svd(an);
  expect_valid_svd(a, r);
  EXPECT_TRUE(all_close(r.S, svd(a).S, 0.0, 0.0));
}

TEST(Svd, GradModeAndDetach) {
  Tensor p = test::param(test::rand({4, 3}, 21));
  EXPECT_ERROR(svd(p), "svd: not differentiable");
  Svd r;
  {
    NoGrad ng;
    r = svd(p);
  }
  expect_valid_svd(p, r);
  EXPECT_FALSE(r.U.requires_grad());
  expect_valid_svd(p, svd(p.detach()));
}

TEST(Svd, Errors) {
  EXPECT_ERROR(svd(test::rand({5}, 1)), "svd: argument 'a' must have rank 2, got f32[5] cpu");
  EXPECT_ERROR(svd(test::rand({2, 3, 4}, 1)), "svd: argument 'a' must have rank 2");
  EXPECT_ERROR(svd(test::rand({3, 3}, 1).to(DType::F64)), "svd: argument 'a' must be f32");
  EXPECT_ERROR(svd(Tensor::zeros({3, 3}, DType::I32)), "svd: argument 'a' must be f32");
  EXPECT_ERROR(svd(Tensor::zeros({0, 3})), "svd: argument 'a' is empty: f32[0, 3] cpu");
  EXPECT_ERROR(svd(Tensor::zeros({3, 0})), "svd: argument 'a' is empty");
  EXPECT_ERROR(svd(Tensor()), "svd: argument 'a' is an undefined tensor");
  Tensor bad = test::rand({3, 4}, 2).clone();
  bad.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_ERROR(svd(bad), "non-finite value (nan) at element 5");
  bad.data<float>()[5] = -std::numeric_limits<float>::infinity();
  EXPECT_ERROR(svd(bad), "non-finite value (-inf) at element 5");
}

}  // namespace
}  // namespace zebra
