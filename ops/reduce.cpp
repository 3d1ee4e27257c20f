#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "core/threadpool.h"
#include "ops/cpu/vec_math.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"

namespace zebra {

namespace {
using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

enum class Kind { Sum, Max, LogSumExp };

// How a reduction reads its input: as K rows of R contiguous values (after a permuting copy when
// the reduced axes are not already innermost), or as R rows of K columns (reduced axes outermost).
struct Plan {
  Shape keep_shape;   // input shape with reduced axes set to 1
  Shape out_shape;    // keep_shape, or with the reduced axes dropped
  Shape perm_shape;   // kept axes then reduced axes
  Shape perm_strides; // the input's strides in that order
  std::vector<bool> red;  // per input axis: reduced?
  int64_t K = 1, R = 1;
  bool suffix = false, prefix = false;
};

Plan make_plan(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdim, const char* op) {
  int64_t rank = x.dim();
  std::vector<bool> red(size_t(rank), axes_in.empty());
  for (int64_t a : axes_in) {
    int64_t n = norm_axis(a, rank, op);
    ZCHECK(!red[size_t(n)], op, ": axis ", a, " given twice");
    red[size_t(n)] = true;
  }
  Plan p;
  p.red = red;
  Shape kept_shape, kept_str, red_shape, red_str;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = x.shape()[size_t(i)];
    if (red[size_t(i)]) {
      p.keep_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
      red_shape.push_back(d);
      red_str.push_back(x.strides()[size_t(i)]);
      p.R *= d;
    } else {
      p.keep_shape.push_back(d);
      p.out_shape.push_back(d);
      kept_shape.push_back(d);
      kept_str.push_back(x.strides()[size_t(i)]);
      p.K *= d;
    }
  }
  p.perm_shape = kept_shape;
  p.perm_shape.insert(p.perm_shape.end(), red_shape.begin(), red_shape.end());
  p.perm_strides = kept_str;
  p.perm_strides.insert(p.perm_strides.end(), red_str.begin(), red_str.end());
  bool seen_red = false, suffix = true, seen_kept = false, prefix = true;
  for (int64_t i = 0; i < rank; ++i) {
    if (red[size_t(i)]) seen_red = true;
    else if (seen_red) suffix = false;
    if (!red[size_t(i)]) seen_kept = true;
    else if (seen_kept) prefix = false;
  }
  p.suffix = suffix && x.is_contiguous();
  p.prefix = prefix && !suffix && x.is_contiguous();
  return p;
}

// Reads x as K rows of R values each (a copy only when the layout requires it).
Tensor as_rows(const Tensor& x, const Plan& p) {
  if (p.suffix) return x;
  return x.as_strided(p.perm_shape, p.perm_strides, x.offset()).contiguous();
}

// out[k] for k < K; arg[k] = first index of the maximum (Max only).
Tensor reduce_rows(const Tensor& rows, const Plan& p, Kind kind, std::vector<int64_t>* arg) {
  Tensor out = Tensor::empty(p.out_shape);
  const float* x = rows.data<float>();
  float* y = out.data<float>();
  int64_t R = p.R;
  if (arg) arg->assign(size_t(p.K), 0);
  parallel_for(0, p.K, std::max<int64_t>(1, 16384 / std::max<int64_t>(R, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const float* r = x + k * R;
      if (kind == Kind::Sum) {
        y[k] = float(cpu::sum_f32(r, R));
        continue;
      }
      float m = -std::numeric_limits<float>::infinity();
      int64_t am = 0;
      bool nan = false;
      for (int64_t j = 0; j < R; ++j) {
        if (std::isnan(r[j])) {
          if (!nan) am = j;
          nan = true;
        } else if (r[j] > m) {
          m = r[j];
          if (!nan) am = j;
        }
      }
      if (nan) m = std::numeric_limits<float>::quiet_NaN();
      if (kind == Kind::Max) {
        y[k] = R ? m : -std::numeric_limits<float>::infinity();
        if (arg) (*arg)[size_t(k)] = am;
        continue;
      }
      if (!std::isfinite(m)) {  // all -inf (empty) stays -inf; +inf or NaN propagate
        y[k] = R ? m : -std::numeric_limits<float>::infinity();
        continue;
      }
      double s = 0.0;
      for (int64_t j = 0; j < R; ++j) s += std::exp(double(r[j]) - double(m));
      y[k] = float(double(m) + std::log(s));
    }
  });
  return out;
}

// Sum of R rows of K contiguous columns: out[j] = sum_i x[i, j].
Tensor sum_columns(const Tensor& x, const Plan& p) {
  Tensor out = Tensor::empty(p.out_shape);
  const float* in = x.data<float>();
  float* y = out.data<float>();
  int64_t K = p.K, R = p.R;
  parallel_for(0, K, 256, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(size_t(hi - lo), 0.0);
    for (int64_t i = 0; i < R; ++i) {
      const float* row = in + i * K + lo;
      for (int64_t j = 0; j < hi - lo; ++j) acc[size_t(j)] += double(row[j]);
    }
    for (int64_t j = lo; j < hi; ++j) y[j] = float(acc[size_t(j - lo)]);
  });
  return out;
}

// g shaped like the reduction's output, spread back over the input shape.
Tensor expand_back(const Tensor& g, const Plan& p, const Shape& in_shape) {
  Tensor gk = g.contiguous().view(p.keep_shape);
  return gk.as_strided(in_shape, broadcast_strides(p.keep_shape, gk.strides(), in_shape), gk.offset()).contiguous();
}

void check_reduce(const char* op, const Tensor& x) {
  check_defined(x, op, "x");
  expect_cpu(op, {&x});
  expect_f32(op, {{"x", &x}});
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_reduce("sum", x);
  Plan p = make_plan(x, axes, keepdim, "sum");
  Tensor out = p.prefix ? sum_columns(x, p) : reduce_rows(as_rows(x, p), p, Kind::Sum, nullptr);
  return record(out, "sum", {x}, [p, s = x.shape()](const Tensor& g, const Needs&) { return Grads{expand_back(g, p, s)}; });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_reduce("mean", x);
  Plan p = make_plan(x, axes, keepdim, "mean");
  ZCHECK(p.R > 0, "mean: reducing ", x.summary(), " over an empty axis");
  return mul(sum(x, axes, keepdim), 1.0 / double(p.R));
}

Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_reduce("max", x);
  Plan p = make_plan(x, axes, keepdim, "max");
  ZCHECK(p.R > 0, "max: reducing ", x.summary(), " over an empty axis");
  std::vector<int64_t> arg;
  Tensor out = reduce_rows(as_rows(x, p), p, Kind::Max, &arg);
  return record(out, "max", {x}, [p, arg, s = x.shape()](const Tensor& g, const Needs&) {
    // Scatter into the kept-then-reduced layout, then write that through a permuted view of dx.
    Tensor rows = Tensor::zeros({p.K, p.R});
    Tensor gc = g.contiguous();
    const float* pg = gc.data<float>();
    float* pr = rows.data<float>();
    for (int64_t k = 0; k < p.K; ++k) pr[k * p.R + arg[size_t(k)]] = pg[k];
    Tensor dx = Tensor::empty(s);
    Shape dstr = contiguous_strides(s), perm_str;
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = 0; i < s.size(); ++i)
        if (p.red[i] == (pass == 1)) perm_str.push_back(dstr[i]);
    dx.as_strided(p.perm_shape, perm_str, 0).copy_(rows.view(p.perm_shape));
    return Grads{dx};
  });
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_reduce("logsumexp", x);
  Plan p = make_plan(x, axes, keepdim, "logsumexp");
  Tensor out = reduce_rows(as_rows(x, p), p, Kind::LogSumExp, nullptr);
  return record(out, "logsumexp", {x}, [p, sx = x.detach(), so = out.detach()](const Tensor& g, const Needs&) {
    Tensor ok = so.contiguous().view(p.keep_shape), gk = g.contiguous().view(p.keep_shape);
    return Grads{mul(exp(sub(sx, ok)), gk)};
  });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - int64_t(shape.size());
  ZCHECK(lead >= 0, "sum_to: cannot reduce ", g.summary(), " to ", shape_str(shape));
  Tensor r = g;
  if (lead > 0) {
    std::vector<int64_t> axes(static_cast<size_t>(lead));
    for (int64_t i = 0; i < lead; ++i) axes[size_t(i)] = i;
    r = sum(r, axes, false);
  }
  std::vector<int64_t> ones;
  for (size_t i = 0; i < shape.size(); ++i) {
    ZCHECK(shape[i] == r.shape()[i] || shape[i] == 1, "sum_to: cannot reduce ", g.summary(), " to ", shape_str(shape));
    if (shape[i] == 1 && r.shape()[i] != 1) ones.push_back(int64_t(i));
  }
  if (!ones.empty()) r = sum(r, ones, true);
  return r;
}

}  // namespace zebra
