#include "ops/shape_ops.h"

#include <algorithm>
#include <numeric>
#include <optional>

#include "autograd/node.h"
#include "ops/reduce.h"

namespace zebra {

namespace {

// Replaces the one allowed -1 in `s` by the size that keeps x's element count.
Shape resolve_shape(const Tensor& x, const Shape& s) {
  Shape out = s;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      ZCHECK(infer < 0, "reshape: more than one -1 in ", shape_str(s), " for ", x.summary());
      infer = int64_t(i);
    } else {
      ZCHECK(s[i] >= 0, "reshape: negative size ", s[i], " in ", shape_str(s), " for ", x.summary());
      known *= s[i];
    }
  }
  if (infer >= 0) {
    ZCHECK(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 in ", shape_str(s), " for ",
           x.summary());
    out[size_t(infer)] = x.numel() / known;
  }
  ZCHECK(numel(out) == x.numel(), "reshape: shape ", shape_str(s), " has ", numel(out), " elements but ",
         x.summary(), " has ", x.numel());
  return out;
}

// Strides that read a tensor of shape `old` / `strides` as `shape` without copying, or nullopt when
// its layout does not allow it. Walks runs of axes that are contiguous among themselves ("chunks")
// and requires every new axis to fall inside one chunk (PyTorch's computeStride).
std::optional<Shape> view_strides(const Shape& old, const Shape& strides, const Shape& shape) {
  if (old.empty() || numel(old) == 0) return contiguous_strides(shape);
  Shape out(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_stride = strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old.size()) - 1; d >= 0; --d) {
    tensor_numel *= old[size_t(d)];
    bool chunk_ends = d == 0 || (old[size_t(d - 1)] != 1 && strides[size_t(d - 1)] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
      out[size_t(view_d)] = view_numel * chunk_stride;
      view_numel *= shape[size_t(view_d)];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = strides[size_t(d - 1)];
      tensor_numel = view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined(x, "reshape", "x");
  Shape s = resolve_shape(x, shape);
  std::optional<Shape> st = view_strides(x.shape(), x.strides(), s);
  Tensor out = st ? x.as_strided(s, *st, x.offset()) : x.clone().view(s);
  Shape in_shape = x.shape();
  return record(out, "reshape", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{reshape(g, in_shape)};
  });
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  check_defined(x, "transpose", "x");
  int64_t r = x.dim();
  ZCHECK(a >= -r && a < r && b >= -r && b < r, "transpose: axes (", a, ", ", b, ") out of range for ", x.summary());
  std::vector<int64_t> dims(static_cast<size_t>(r));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(a < 0 ? a + r : a)], dims[size_t(b < 0 ? b + r : b)]);
  return permute(x, dims);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined(x, "permute", "x");
  int64_t r = x.dim();
  ZCHECK(int64_t(dims.size()) == r, "permute: ", dims.size(), " axes ", shape_str(dims), " for ", x.summary());
  std::vector<int64_t> inv(size_t(r), -1);
  Shape shape(static_cast<size_t>(r)), strides(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) {
    int64_t d = dims[size_t(i)];
    ZCHECK(d >= -r && d < r, "permute: axis ", d, " in ", shape_str(dims), " out of range for ", x.summary());
    if (d < 0) d += r;
    ZCHECK(inv[size_t(d)] < 0, "permute: axis ", dims[size_t(i)], " repeated in ", shape_str(dims), " for ",
           x.summary());
    inv[size_t(d)] = i;
    shape[size_t(i)] = x.shape()[size_t(d)];
    strides[size_t(i)] = x.strides()[size_t(d)];
  }
  Tensor out = x.as_strided(shape, strides, x.offset());
  return record(out, "permute", {x}, [inv](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{permute(g, inv)};
  });
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  check_defined(x, "unsqueeze", "x");
  int64_t r = x.dim();
  ZCHECK(axis >= -(r + 1) && axis <= r, "unsqueeze: axis ", axis, " out of range for ", x.summary());
  int64_t a = axis < 0 ? axis + r + 1 : axis;
  Shape shape = x.shape(), strides = x.strides();
  int64_t st = a < r ? x.strides()[size_t(a)] * x.shape()[size_t(a)] : 1;
  shape.insert(shape.begin() + a, 1);
  strides.insert(strides.begin() + a, st);
  Tensor out = x.as_strided(shape, strides, x.offset());
  Shape in_shape = x.shape();
  return record(out, "unsqueeze", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{reshape(g, in_shape)};
  });
}

Tensor squeeze(const Tensor& x, int64_t axis) {
  check_defined(x, "squeeze", "x");
  int64_t r = x.dim();
  ZCHECK(axis >= -r && axis < r, "squeeze: axis ", axis, " out of range for ", x.summary());
  int64_t a = axis < 0 ? axis + r : axis;
  ZCHECK(x.shape()[size_t(a)] == 1, "squeeze: axis ", axis, " of ", x.summary(), " has size ", x.shape()[size_t(a)],
         ", not 1");
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + a);
  strides.erase(strides.begin() + a);
  Tensor out = x.as_strided(shape, strides, x.offset());
  Shape in_shape = x.shape();
  return record(out, "squeeze", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{reshape(g, in_shape)};
  });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined(x, "expand", "x");
  int64_t r = x.dim(), R = int64_t(shape.size());
  ZCHECK(R >= r, "expand: target ", shape_str(shape), " has fewer axes than ", x.summary());
  Shape out_shape(static_cast<size_t>(R)), strides(static_cast<size_t>(R), 0);
  for (int64_t i = 0; i < R; ++i) {
    int64_t j = i - (R - r), want = shape[size_t(i)];
    if (j < 0) {
      ZCHECK(want >= 0, "expand: size ", want, " at new axis ", i, " of ", shape_str(shape), " for ", x.summary());
      out_shape[size_t(i)] = want;
      continue;
    }
    int64_t have = x.shape()[size_t(j)];
    if (want == -1) want = have;
    ZCHECK(want >= 0 && (want == have || have == 1), "expand: cannot expand ", x.summary(), " to ",
           shape_str(shape), " (axis ", i, " has size ", have, "; only size-1 axes expand)");
    out_shape[size_t(i)] = want;
    strides[size_t(i)] = want == have ? x.strides()[size_t(j)] : 0;
  }
  Tensor out = x.as_strided(out_shape, strides, x.offset());
  Shape in_shape = x.shape();
  return record(out, "expand", {x}, [in_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{sum_to(g, in_shape)};
  });
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  check_defined(x, "slice", "x");
  int64_t r = x.dim();
  ZCHECK(axis >= -r && axis < r, "slice: axis ", axis, " out of range for ", x.summary());
  ZCHECK(step >= 1, "slice: step ", step, " must be >= 1 (", x.summary(), ")");
  int64_t a = axis < 0 ? axis + r : axis, n = x.shape()[size_t(a)];
  auto clamp_index = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  int64_t s = clamp_index(start), e = clamp_index(end);
  int64_t len = e > s ? (e - s - 1) / step + 1 : 0;
  // A step beyond the axis takes at most one element; capping it keeps stride * step in range.
  step = std::min(step, std::max<int64_t>(n, 1));
  Shape shape = x.shape(), strides = x.strides();
  shape[size_t(a)] = len;
  strides[size_t(a)] *= step;
  Tensor out = x.as_strided(shape, strides, x.offset() + s * x.strides()[size_t(a)]);
  Shape in_shape = x.shape();
  return record(out, "slice", {x}, [in_shape, a, s, step](const Tensor& g, const std::vector<bool>&) {
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    Shape st = gx.strides();
    int64_t off = s * st[size_t(a)];
    st[size_t(a)] *= step;
    gx.as_strided(g.shape(), st, off).copy_(g);
    return std::vector<Tensor>{gx};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  ZCHECK(!xs.empty(), "concat: empty list of tensors");
  for (size_t k = 0; k < xs.size(); ++k) ZCHECK(xs[k].defined(), "concat: tensor ", k, " is undefined");
  const Tensor& first = xs[0];
  int64_t r = first.dim();
  ZCHECK(r > 0, "concat: cannot concatenate rank-0 tensors (", first.summary(), ")");
  ZCHECK(axis >= -r && axis < r, "concat: axis ", axis, " out of range for ", first.summary());
  int64_t a = axis < 0 ? axis + r : axis;
  Shape out_shape = first.shape();
  out_shape[size_t(a)] = 0;
  std::vector<int64_t> sizes;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = xs[k];
    ZCHECK(x.dtype() == first.dtype() && x.device() == first.device(), "concat: tensor ", k, " ", x.summary(),
           " differs in dtype or device from tensor 0 ", first.summary());
    bool same = x.dim() == r;
    for (int64_t d = 0; same && d < r; ++d) same = d == a || x.shape()[size_t(d)] == first.shape()[size_t(d)];
    ZCHECK(same, "concat: tensor ", k, " ", x.summary(), " does not match tensor 0 ", first.summary(),
           " outside axis ", a);
    sizes.push_back(x.shape()[size_t(a)]);
    out_shape[size_t(a)] += sizes.back();
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t off = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    if (sizes[k] > 0) out.as_strided(xs[k].shape(), out.strides(), off * out.strides()[size_t(a)]).copy_(xs[k]);
    off += sizes[k];
  }
  return record(out, "concat", xs, [sizes, a](const Tensor& g, const std::vector<bool>& needs) {
    std::vector<Tensor> gs;
    int64_t at = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      gs.push_back(needs[k] ? slice(g, a, at, at + sizes[k]) : Tensor());
      at += sizes[k];
    }
    return gs;
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  check_defined(x, "split", "x");
  int64_t r = x.dim();
  ZCHECK(axis >= -r && axis < r, "split: axis ", axis, " out of range for ", x.summary());
  int64_t a = axis < 0 ? axis + r : axis, total = 0;
  for (int64_t s : sizes) {
    ZCHECK(s >= 0, "split: negative size ", s, " in ", shape_str(sizes), " for ", x.summary());
    total += s;
  }
  ZCHECK(total == x.shape()[size_t(a)], "split: sizes ", shape_str(sizes), " sum to ", total, " but axis ", axis,
         " of ", x.summary(), " has ", x.shape()[size_t(a)]);
  std::vector<Tensor> outs;
  int64_t at = 0;
  for (int64_t s : sizes) {
    outs.push_back(slice(x, a, at, at + s));
    at += s;
  }
  return outs;
}

Tensor repeat_interleave(const Tensor& x, int64_t repeats, int64_t axis) {
  check_defined(x, "repeat_interleave", "x");
  int64_t r = x.dim();
  ZCHECK(axis >= -r && axis < r, "repeat_interleave: axis ", axis, " out of range for ", x.summary());
  ZCHECK(repeats >= 1, "repeat_interleave: repeats ", repeats, " must be >= 1 (", x.summary(), ")");
  int64_t a = axis < 0 ? axis + r : axis;
  // x: [..., n, ...] read as [..., n, repeats, ...] with a zero stride, then copied out.
  Shape wide = x.shape(), wide_strides = x.strides();
  wide.insert(wide.begin() + a + 1, repeats);
  wide_strides.insert(wide_strides.begin() + a + 1, 0);
  Shape out_shape = x.shape();
  out_shape[size_t(a)] *= repeats;
  Tensor out = x.as_strided(wide, wide_strides, x.offset()).clone().view(out_shape);
  return record(out, "repeat_interleave", {x}, [wide, a](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{sum(reshape(g, wide), {a + 1})};
  });
}

Tensor contiguous(const Tensor& x) {
  check_defined(x, "contiguous", "x");
  if (x.is_contiguous()) return x;
  return record(x.contiguous(), "contiguous", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g};
  });
}

Tensor cast(const Tensor& x, DType t) {
  check_defined(x, "cast", "x");
  if (x.dtype() == t) return x;
  Tensor out = x.to(t);
  if (!is_floating(t)) return out;  // integer results carry no gradient
  DType from = x.dtype();
  return record(out, "cast", {x}, [from](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.to(from)};
  });
}

}  // namespace zebra
