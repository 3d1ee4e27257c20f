#include "ops/linalg.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/node.h"
#include "ops/dispatch.h"

namespace zebra {

Svd svd(const Tensor& a) {
  check_defined(a, "svd", "a");
  expect_cpu("svd", {&a});
  expect_f32("svd", {{"a", &a}});
  check_rank(a, 2, "svd", "a");
  ZCHECK(!any_requires_grad({&a}), "svd: not differentiable, but argument 'a' ", a.summary(),
         " requires grad (detach it or run under NoGrad)");
  const int64_t M = a.size(0), N = a.size(1), k = std::min(M, N);
  ZCHECK(k > 0, "svd: argument 'a' is empty: ", a.summary());
  ZCHECK(std::max(M, N) <= std::numeric_limits<lapack_int>::max(), "svd: argument 'a' ", a.summary(),
         " exceeds the LAPACK integer range");
  // a: [M, N] row-major in double, overwritten by gesdd.
  std::vector<double> x = a.to_double();
  for (size_t i = 0; i < x.size(); ++i)
    ZCHECK(std::isfinite(x[i]), "svd: argument 'a' ", a.summary(), " holds a non-finite value (", x[i],
           ") at element ", i);
  std::vector<double> s(static_cast<size_t>(k)), u(static_cast<size_t>(M * k)), vt(static_cast<size_t>(k * N));
  const lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', lapack_int(M), lapack_int(N), x.data(), lapack_int(N),
                                         s.data(), u.data(), lapack_int(k), vt.data(), lapack_int(N));
  ZCHECK(info >= 0, "svd: LAPACKE_dgesdd rejected argument ", -info, " for a ", a.summary());
  ZCHECK(info == 0, "svd: LAPACKE_dgesdd did not converge (info ", info, ") for a ", a.summary());
  return Svd{Tensor::from_vector(u, {M, k}).to(DType::F32), Tensor::from_vector(s, {k}).to(DType::F32),
             Tensor::from_vector(vt, {k, N}).to(DType::F32)};
}

}  // namespace zebra
