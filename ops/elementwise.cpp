#include "ops/elementwise.h"

#include <cmath>
#include <cstring>

#include "autograd/node.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/vec_math.h"
#include "ops/dispatch.h"
#include "ops/reduce.h"

namespace zebra {

namespace {
using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  expect_cpu(op, {&a, &b});
  expect_f32(op, {{"a", &a}, {"b", &b}});
}

void check_unary(const char* op, const Tensor& a) {
  check_defined(a, op, "a");
  expect_cpu(op, {&a});
  expect_f32(op, {{"a", &a}});
}

using cpu::exp_fast;
inline float sigmoidf(float x) { return cpu::sigmoid_fast(x); }
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_binary("add", a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), "add");
  Tensor out = cpu::binary(a, b, s, [](float x, float y) { return x + y; });
  return record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Needs& n) {
    return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_binary("sub", a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), "sub");
  Tensor out = cpu::binary(a, b, s, [](float x, float y) { return x - y; });
  return record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Needs& n) {
    return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary("mul", a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), "mul");
  Tensor out = cpu::binary(a, b, s, [](float x, float y) { return x * y; });
  return record(out, "mul", {a, b}, [sa = a.detach(), sb = b.detach()](const Tensor& g, const Needs& n) {
    return Grads{n[0] ? sum_to(mul(g, sb), sa.shape()) : Tensor(), n[1] ? sum_to(mul(g, sa), sb.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_binary("div", a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), "div");
  Tensor out = cpu::binary(a, b, s, [](float x, float y) { return x / y; });
  return record(out, "div", {a, b}, [sa = a.shape(), sb = b.detach(), so = out.detach()](const Tensor& g, const Needs& n) {
    Tensor ga = div(g, sb);
    return Grads{n[0] ? sum_to(ga, sa) : Tensor(), n[1] ? sum_to(neg(mul(ga, so)), sb.shape()) : Tensor()};
  });
}

Tensor add(const Tensor& a, double s) {
  check_unary("add", a);
  float f = float(s);
  Tensor out = cpu::unary(a, [f](float x) { return x + f; });
  return record(out, "add_scalar", {a}, [](const Tensor& g, const Needs&) { return Grads{g}; });
}

Tensor mul(const Tensor& a, double s) {
  check_unary("mul", a);
  float f = float(s);
  Tensor out = cpu::unary(a, [f](float x) { return x * f; });
  return record(out, "mul_scalar", {a}, [s](const Tensor& g, const Needs&) { return Grads{mul(g, s)}; });
}

Tensor neg(const Tensor& a) {
  check_unary("neg", a);
  Tensor out = cpu::unary(a, [](float x) { return -x; });
  return record(out, "neg", {a}, [](const Tensor& g, const Needs&) { return Grads{neg(g)}; });
}

Tensor exp(const Tensor& a) {
  check_unary("exp", a);
  Tensor out = cpu::unary(a, [](cpu::f32x16 x) { return cpu::vexp(x); });
  return record(out, "exp", {a}, [so = out.detach()](const Tensor& g, const Needs&) { return Grads{mul(g, so)}; });
}

Tensor log(const Tensor& a) {
  check_unary("log", a);
  Tensor out = cpu::unary(a, [](float x) { return std::log(x); });
  return record(out, "log", {a}, [sa = a.detach()](const Tensor& g, const Needs&) { return Grads{div(g, sa)}; });
}

Tensor sqrt(const Tensor& a) {
  check_unary("sqrt", a);
  Tensor out = cpu::unary(a, [](float x) { return std::sqrt(x); });
  return record(out, "sqrt", {a}, [so = out.detach()](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, so, g.shape(), [](float gi, float y) { return 0.5f * gi / y; })};
  });
}

Tensor rsqrt(const Tensor& a) {
  check_unary("rsqrt", a);
  Tensor out = cpu::unary(a, [](float x) { return 1.0f / std::sqrt(x); });
  return record(out, "rsqrt", {a}, [so = out.detach()](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, so, g.shape(), [](float gi, float y) { return -0.5f * gi * y * y * y; })};
  });
}

Tensor sigmoid(const Tensor& a) {
  check_unary("sigmoid", a);
  Tensor out = cpu::unary(a, [](cpu::f32x16 x) { return cpu::vsigmoid(x); });
  return record(out, "sigmoid", {a}, [so = out.detach()](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, so, g.shape(), [](float gi, float y) { return gi * y * (1.0f - y); })};
  });
}

Tensor silu(const Tensor& a) {
  check_unary("silu", a);
  Tensor out = cpu::unary(a, [](cpu::f32x16 x) { return x * cpu::vsigmoid(x); });
  return record(out, "silu", {a}, [sa = a.detach()](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, sa, g.shape(), [](float gi, float x) {
      float s = sigmoidf(x);
      return gi * s * (1.0f + x * (1.0f - s));
    })};
  });
}

// PyTorch's softplus(beta=1, threshold=20): linear above the threshold, where exp would overflow.
Tensor softplus(const Tensor& a) {
  check_unary("softplus", a);
  Tensor out = cpu::unary(a, [](float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); });
  return record(out, "softplus", {a}, [sa = a.detach()](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, sa, g.shape(), [](float gi, float x) { return x > 20.0f ? gi : gi * sigmoidf(x); })};
  });
}

Tensor tanh(const Tensor& a) {
  check_unary("tanh", a);
  Tensor out = cpu::unary(a, [](float x) { return std::tanh(x); });
  return record(out, "tanh", {a}, [so = out.detach()](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, so, g.shape(), [](float gi, float y) { return gi * (1.0f - y * y); })};
  });
}

Tensor pow(const Tensor& a, double p) {
  check_unary("pow", a);
  Tensor out;
  if (p == 2.0) out = cpu::unary(a, [](float x) { return x * x; });
  else out = cpu::unary(a, [p](float x) { return float(std::pow(double(x), p)); });
  return record(out, "pow", {a}, [sa = a.detach(), p](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, sa, g.shape(), [p](float gi, float x) {
      return p == 0.0 ? 0.0f : float(double(gi) * p * std::pow(double(x), p - 1.0));
    })};
  });
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  check_unary("clamp", a);
  ZCHECK(lo <= hi, "clamp: lower bound ", lo, " exceeds upper bound ", hi);
  float l = float(lo), h = float(hi);
  Tensor out = cpu::unary(a, [l, h](float x) { return x < l ? l : (x > h ? h : x); });
  return record(out, "clamp", {a}, [sa = a.detach(), l, h](const Tensor& g, const Needs&) {
    return Grads{cpu::binary(g, sa, g.shape(), [l, h](float gi, float x) { return x >= l && x <= h ? gi : 0.0f; })};
  });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_dtype(cond, DType::U8, "where", "cond");
  check_binary("where", a, b);
  expect_cpu("where", {&cond});
  Shape s = broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  Tensor out = cpu::select3(cond, a, b, s, [](uint8_t m, float x, float y) { return m ? x : y; });
  Tensor c = cond.detach();
  return record(out, "where", {a, b}, [c, sa = a.shape(), sb = b.shape()](const Tensor& g, const Needs& n) {
    Tensor zero = Tensor::zeros({});
    Tensor ga, gb;
    if (n[0]) ga = sum_to(cpu::select3(c, g, zero, g.shape(), [](uint8_t m, float x, float z) { return m ? x : z; }), sa);
    if (n[1]) gb = sum_to(cpu::select3(c, zero, g, g.shape(), [](uint8_t m, float z, float y) { return m ? z : y; }), sb);
    return Grads{ga, gb};
  });
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  check_dtype(mask, DType::U8, "masked_fill", "mask");
  check_unary("masked_fill", a);
  expect_cpu("masked_fill", {&mask});
  Shape s = broadcast_shapes(a.shape(), mask.shape(), "masked_fill");
  ZCHECK(s == a.shape(), "masked_fill: mask ", shape_str(mask.shape()), " would broadcast a ", shape_str(a.shape()),
         " to ", shape_str(s));
  Tensor fill = Tensor::full({}, value);
  Tensor out = cpu::select3(mask, fill, a, s, [](uint8_t m, float v, float x) { return m ? v : x; });
  Tensor m = mask.detach();
  return record(out, "masked_fill", {a}, [m](const Tensor& g, const Needs&) {
    Tensor zero = Tensor::zeros({});
    return Grads{cpu::select3(m, zero, g, g.shape(), [](uint8_t k, float z, float x) { return k ? z : x; })};
  });
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  check_binary("swiglu", gate, up);
  ZCHECK(gate.shape() == up.shape(), "swiglu: gate ", gate.summary(), " and up ", up.summary(), " differ in shape");
  Tensor out = cpu::binary_vec(gate, up, [](cpu::f32x16 x, cpu::f32x16 u) { return x * cpu::vsigmoid(x) * u; });
  return record(out, "swiglu", {gate, up}, [sg = gate.detach(), su = up.detach()](const Tensor& g, const Needs& n) {
    Tensor gg = g.contiguous(), x = sg.contiguous(), u = su.contiguous();
    Tensor dgate = n[0] ? Tensor::empty(x.shape()) : Tensor();
    Tensor dup = n[1] ? Tensor::empty(x.shape()) : Tensor();
    const float *pg = gg.data<float>(), *px = x.data<float>(), *pu = u.data<float>();
    float* pdg = n[0] ? dgate.data<float>() : nullptr;
    float* pdu = n[1] ? dup.data<float>() : nullptr;
    // Both gradients in one pass: they share sigmoid(gate).
    auto both = [&](int64_t i) {
      using cpu::f32x16;
      f32x16 gv = cpu::tail_load(pg, i, x.numel()), xv = cpu::tail_load(px, i, x.numel());
      f32x16 uv = cpu::tail_load(pu, i, x.numel()), sv = cpu::vsigmoid(xv);
      return std::pair{gv * uv * sv * (1.0f + xv * (1.0f - sv)), gv * xv * sv};
    };
    parallel_for(0, x.numel(), cpu::kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i += cpu::kVec) {
        auto [dg, du] = both(i);
        size_t n = size_t(std::min<int64_t>(cpu::kVec, hi - i)) * 4;
        if (pdg) std::memcpy(pdg + i, &dg, n);
        if (pdu) std::memcpy(pdu + i, &du, n);
      }
    });
    return Grads{dgate, dup};
  });
}

}  // namespace zebra
