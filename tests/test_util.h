// Helpers shared by the test suites: random inputs, non-contiguous twins, comparisons against
// double-precision references, and error-message expectations.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/tensor.h"

namespace zebra::test {

inline Tensor rand(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return Tensor::uniform(shape, seed, lo, hi);
}
inline Tensor randn(const Shape& shape, uint64_t seed, double stddev = 1.0) {
  return Tensor::normal(shape, seed, 0.0, stddev);
}
inline Tensor param(Tensor t) { return t.set_requires_grad(true), t; }

// The same values as `t`, laid out with every other element along the last axis (so strides are
// not contiguous and the offset is nonzero).
inline Tensor noncontig(const Tensor& t) {
  Shape big = t.shape();
  if (big.empty()) return t;
  big.back() = big.back() * 2 + 1;
  Tensor base = Tensor::zeros(big, t.dtype());
  Shape st = base.strides();
  st.back() = 2;
  Tensor v = base.as_strided(t.shape(), st, 1);
  v.copy_(t);
  EXPECT_FALSE(v.is_contiguous() && t.numel() > 1);
  return v;
}

// |got - want| <= atol + rtol * |want| everywhere; reports the first failing index.
inline ::testing::AssertionResult all_close(const Tensor& got, const std::vector<double>& want, double atol = 1e-5,
                                            double rtol = 1e-4) {
  std::vector<double> g = got.to_double();
  if (g.size() != want.size())
    return ::testing::AssertionFailure() << "size " << g.size() << " vs reference " << want.size();
  for (size_t i = 0; i < g.size(); ++i) {
    bool both_nan = std::isnan(g[i]) && std::isnan(want[i]);
    bool same_inf = std::isinf(g[i]) && g[i] == want[i];
    if (both_nan || same_inf) continue;
    if (!(std::fabs(g[i] - want[i]) <= atol + rtol * std::fabs(want[i])))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g[i] << ", want " << want[i]
                                           << " (atol " << atol << ", rtol " << rtol << ")";
  }
  return ::testing::AssertionSuccess();
}
inline ::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol = 1e-5,
                                            double rtol = 1e-4) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs " << shape_str(want.shape());
  return all_close(got, want.to_double(), atol, rtol);
}

}  // namespace zebra::test

// EXPECT_ERROR(stmt, "substring"): stmt throws zebra::Error whose message contains substring.
#define EXPECT_ERROR(stmt, substr)                                                              \
  do {                                                                                          \
    try {                                                                                       \
      stmt;                                                                                     \
      ADD_FAILURE() << "expected zebra::Error containing '" << (substr) << "' from " #stmt;     \
    } catch (const ::zebra::Error& e) {                                                         \
      EXPECT_NE(std::string(e.what()).find(substr), std::string::npos)                          \
          << "message '" << e.what() << "' lacks '" << (substr) << "'";                         \
    }                                                                                           \
  } while (0)

#define EXPECT_GRADCHECK(f, inputs, ...)                                    \
  do {                                                                      \
    auto _r = ::zebra::gradcheck(f, inputs __VA_OPT__(, ) __VA_ARGS__);    \
    EXPECT_TRUE(_r.ok) << _r.message;                                       \
    EXPECT_GT(_r.checked, 0);                                               \
  } while (0)
