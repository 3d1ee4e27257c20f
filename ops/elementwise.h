// Broadcasting elementwise ops (NumPy rules), forward + backward. f32 on CPU.
#pragma once
#include "core/tensor.h"

namespace zebra {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor silu(const Tensor& a);                    // a * sigmoid(a)
Tensor softplus(const Tensor& a);                // log(1 + exp(a)), linear above 20 as PyTorch
Tensor tanh(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);    // scalar exponent
Tensor clamp(const Tensor& a, double lo, double hi);  // gradient 0 outside [lo, hi]
// cond: u8 (nonzero = true), broadcast with a and b. Gradient flows to a where cond, to b elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);  // where(mask, value, a)
// SwiGLU: silu(gate) * up, fused (one pass, one saved pair).
Tensor swiglu(const Tensor& gate, const Tensor& up);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }

}  // namespace zebra
