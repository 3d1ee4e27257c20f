#include <cmath>
#include <limits>

#include "ops/elementwise.h"
#include "ops/ssd.h"
#include "test_util.h"

using namespace zebra;

namespace {

// Plain-loop cumsum of `x` (row-major values, shape `s`) along `axis`, in double.
std::vector<double> naive_cumsum(const std::vector<double>& x, const Shape& s, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s[size_t(i)];
  for (size_t i = size_t(axis) + 1; i < s.size(); ++i) inner *= s[i];
  const int64_t n = s[size_t(axis)];
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < inner; ++c) {
      double acc = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        size_t at = size_t((o * n + i) * inner + c);
        acc += x[at];
        y[at] = acc;
      }
    }
  return y;
}

// out[r, i, j] = x[r, j+1] + ... + x[r, i] summed directly, -inf above the diagonal.
std::vector<double> naive_segsum(const std::vector<double>& x, int64_t rows, int64_t T) {
  std::vector<double> y(size_t(rows * T * T));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) {
        double v = -std::numeric_limits<double>::infinity();
        if (j <= i) {
          v = 0.0;
          for (int64_t k = j + 1; k <= i; ++k) v += x[size_t(r * T + k)];
        }
        y[size_t((r * T + i) * T + j)] = v;
      }
  return y;
}

}  // namespace

TEST(Cumsum, EveryAxisMatchesNaive) {
  const Shape s{3, 5, 7};
  Tensor x = test::randn(s, 11);
  for (int64_t axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE(axis);
    std::vector<double> want = naive_cumsum(x.to_double(), s, axis);
    EXPECT_TRUE(test::all_close(cumsum(x, axis), want));
    EXPECT_TRUE(test::all_close(cumsum(x, axis - 3), want));  // negative axis
    EXPECT_TRUE(test::all_close(cumsum(test::noncontig(x), axis), want));
  }
}

TEST(Cumsum, WideAndLongInputs) {
  // 300 columns cross the kernel's 256-column blocks; 67 x 1 rows is the scalar path.
  Tensor a = test::randn({2, 13, 300}, 12);
  EXPECT_TRUE(test::all_close(cumsum(a, 1), naive_cumsum(a.to_double(), {2, 13, 300}, 1)));
  Tensor b = test::randn({67, 1}, 13);
  EXPECT_TRUE(test::all_close(cumsum(b, 0), naive_cumsum(b.to_double(), {67, 1}, 0)));
  // A long sum stays accurate because the running sum is double: 1e5 steps of 0.1.
  Tensor c = Tensor::full({100000}, 0.1);
  EXPECT_NEAR(cumsum(c, 0).to_double().back(), 100000 * double(0.1f), 1e-3);
}

TEST(Cumsum, BackwardIsReverseCumsum) {
  Tensor x = test::param(test::randn({4, 6}, 14));
  Tensor g = test::randn({4, 6}, 15);
  cumsum(x, 1).backward(g);
  std::vector<double> gv = g.to_double(), want(gv.size());
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t k = 0; k < 6; ++k)
      for (int64_t i = k; i < 6; ++i) want[size_t(r * 6 + k)] += gv[size_t(r * 6 + i)];
  EXPECT_TRUE(test::all_close(x.grad(), want));
}

TEST(Cumsum, Gradcheck) {
  for (int64_t axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE(axis);
    EXPECT_GRADCHECK([axis](const std::vector<Tensor>& in) { return cumsum(in[0], axis); },
                     {test::param(test::randn({2, 3, 4}, 16))});
  }
}

TEST(Cumsum, Errors) {
  EXPECT_ERROR(cumsum(Tensor(), 0), "cumsum: argument 'x' is an undefined tensor");
  EXPECT_ERROR(cumsum(Tensor::scalar(1.0), 0), "cumsum: argument 'x' must have rank >= 1");
  EXPECT_ERROR(cumsum(test::randn({2, 3}, 1), 2), "cumsum");
  EXPECT_ERROR(cumsum(test::randn({2, 3}, 1), -3), "cumsum");
  EXPECT_ERROR(cumsum(Tensor::zeros({2, 3}, DType::I32), 0), "cumsum: argument 'x' must be f32");
}

TEST(Segsum, ValuesAndInfRegion) {
  Tensor x = test::randn({2, 3, 13}, 21);
  Tensor y = segsum(x);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 13, 13}));
  EXPECT_TRUE(test::all_close(y, naive_segsum(x.to_double(), 6, 13)));
  EXPECT_TRUE(test::all_close(segsum(test::noncontig(x)), naive_segsum(x.to_double(), 6, 13)));
  std::vector<double> v = y.to_double();
  for (int64_t i = 0; i < 13; ++i)
    for (int64_t j = 0; j < 13; ++j) {
      double e = v[size_t(i * 13 + j)];
      if (j > i) {
        EXPECT_TRUE(std::isinf(e) && e < 0) << i << ", " << j;
      } else if (j == i) {
        EXPECT_EQ(e, 0.0) << i;
      }
    }
}

TEST(Segsum, OddLengthsAndRankOne) {
  for (int64_t T : {1, 5, 67}) {
    SCOPED_TRACE(T);
    Tensor x = test::randn({T}, 22 + uint64_t(T));
    EXPECT_TRUE(test::all_close(segsum(x), naive_segsum(x.to_double(), 1, T)));
  }
}

TEST(Segsum, StableWithoutCumsumDifferences) {
  // A huge x[1] would swamp a difference of cumsums in f32; each column sums only its own span.
  std::vector<float> xv(64, 1e-3f);
  xv[1] = 1e7f;
  Tensor x = Tensor::from_vector(xv, {64});
  std::vector<double> y = segsum(x).to_double();
  for (int64_t i = 2; i < 64; ++i)
    for (int64_t j = 1; j < i; ++j)
      EXPECT_NEAR(y[size_t(i * 64 + j)], double(i - j) * double(1e-3f), 1e-7) << i << ", " << j;
}

TEST(Segsum, BackwardIgnoresInfRegion) {
  const int64_t R = 3, T = 67;
  Tensor x = test::param(test::randn({R, T}, 23));
  Tensor g = test::randn({R, T, T}, 24);  // nonzero above the diagonal too
  segsum(x).backward(g);
  std::vector<double> gv = g.to_double(), want(size_t(R * T), 0.0);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t k = j + 1; k <= i; ++k) want[size_t(r * T + k)] += gv[size_t((r * T + i) * T + j)];
  EXPECT_TRUE(test::all_close(x.grad(), want, 1e-4, 1e-4));
}

TEST(Segsum, Gradcheck) {
  // exp maps the -inf half to 0, as Mamba2's L = exp(segsum(A)) does, so the projection stays finite.
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return exp(segsum(in[0])); },
                   {test::param(test::rand({2, 6}, 25, -0.5, 0.5))});
}

TEST(Segsum, Errors) {
  EXPECT_ERROR(segsum(Tensor()), "segsum: argument 'x' is an undefined tensor");
  EXPECT_ERROR(segsum(Tensor::scalar(1.0)), "segsum: argument 'x' must have rank >= 1");
  EXPECT_ERROR(segsum(Tensor::zeros({4}, DType::F64)), "segsum: argument 'x' must be f32");
}
