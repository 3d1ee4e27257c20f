#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/rng.h"

namespace zebra {

namespace {
double project(const Tensor& out, const std::vector<double>& w) {
  std::vector<double> v = out.to_double();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * w[i];
  return s;
}
}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  GradcheckResult res;
  // Own contiguous f32 copies so nudging one element touches nothing the caller holds.
  std::vector<Tensor> xs;
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      xs.push_back(t);
      continue;
    }
    Tensor c = t.detach().clone();
    if (t.requires_grad()) c.set_requires_grad(true);
    xs.push_back(c);
  }
  Tensor out = f(xs);
  ZCHECK(out.defined() && out.requires_grad(), "gradcheck: the function's output does not require grad");
  std::vector<double> w(size_t(out.numel()));
  for (size_t i = 0; i < w.size(); ++i) w[i] = Philox::normal(opts.seed, 7, i);
  Tensor wt = Tensor::from_vector(w, out.shape()).to(out.dtype());
  out.backward(wt);
  std::vector<double> wq = wt.to_double();  // the projection exactly as backward saw it

  Rng pick(opts.seed, 0);
  double worst = 0.0;  // largest error among the failing elements: the one the message names
  for (size_t k = 0; k < xs.size(); ++k) {
    Tensor& x = xs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    std::vector<double> analytic = x.grad().defined() ? x.grad().to_double() : std::vector<double>(size_t(x.numel()), 0.0);
    std::vector<int64_t> idx;
    if (x.numel() <= opts.max_checks_per_input) {
      for (int64_t i = 0; i < x.numel(); ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < opts.max_checks_per_input; ++i) idx.push_back(int64_t(pick.next_below(uint64_t(x.numel()))));
    }
    ZCHECK(x.dtype() == DType::F32, "gradcheck: input ", k, " must be f32");
    float* p = x.data<float>();
    for (int64_t i : idx) {
      float orig = p[i];
      double lp, lm;
      {
        NoGrad ng;
        p[i] = orig + float(opts.eps);
        double hp = double(p[i]) - orig;
        lp = project(f(xs), wq);
        p[i] = orig - float(opts.eps);
        double hm = orig - double(p[i]);
        lm = project(f(xs), wq);
        p[i] = orig;
        double numeric = (lp - lm) / (hp + hm);
        double a = analytic[size_t(i)];
        double err = std::fabs(a - numeric);
        res.max_abs_error = std::max(res.max_abs_error, err);
        ++res.checked;
        if (err > opts.atol + opts.rtol * std::fabs(numeric) && (res.ok || err > worst)) {
          res.ok = false;
          worst = err;
          res.message = str("gradcheck: input ", k, " ", x.summary(), " element ", i, ": analytic ", a,
                            " vs numeric ", numeric, " (|diff| ", err, ")");
        }
      }
    }
  }
  return res;
}

}  // namespace zebra
