#include "core/tensor.h"

#include <cmath>
#include <cstring>

#include "autograd/engine.h"
#include "core/rng.h"
#include "core/threadpool.h"

namespace zebra {

Storage::~Storage() {
  if (alloc && data) alloc->deallocate(data, nbytes);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device d) {
  auto s = std::make_shared<Storage>();
  s->alloc = &allocator_for(d);
  s->data = s->alloc->allocate(nbytes);
  s->nbytes = nbytes;
  s->device = d;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes, Device d, std::shared_ptr<void> keepalive) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->nbytes = nbytes;
  s->device = d;
  s->keepalive = std::move(keepalive);
  return s;
}

TensorImpl& Tensor::impl() const {
  ZCHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

namespace {
Tensor make(const Shape& shape, DType dtype, Device dev) {
  for (auto d : shape) ZCHECK(d >= 0, "tensor: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(size_t(numel(shape)) * dtype_size(dtype), dev);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}

template <class T>
Tensor from_vec(const std::vector<T>& v, const Shape& shape) {
  ZCHECK(int64_t(v.size()) == numel(shape), "from_vector: ", v.size(), " values for shape ", shape_str(shape));
  Tensor t = make(shape, DTypeOf<T>::value, Device::cpu());
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
  return t;
}

// Visits every element offset (in elements) of a strided view, in row-major order.
template <class F>
void for_each_offset(const Shape& shape, const Shape& strides, int64_t offset, F&& f) {
  int64_t n = numel(shape);
  if (n == 0) return;
  size_t r = shape.size();
  std::vector<int64_t> idx(r, 0);
  int64_t off = offset;
  for (int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device dev) { return make(shape, dtype, dev); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device dev) {
  Tensor t = make(shape, dtype, dev);
  t.fill_(0.0);
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device dev) { return full(shape, 1.0, dtype, dev); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device dev) {
  Tensor t = make(shape, dtype, dev);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_vec(v, s); }
Tensor Tensor::from_vector(const std::vector<int32_t>& v, const Shape& s) { return from_vec(v, s); }
Tensor Tensor::from_vector(const std::vector<int64_t>& v, const Shape& s) { return from_vec(v, s); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) { return from_vec(v, s); }

Tensor Tensor::arange(int64_t n, DType dtype) {
  std::vector<double> v(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double(i);
  return from_vec(v, {n}).to(dtype);
}

Tensor Tensor::uniform(const Shape& shape, uint64_t seed, double lo, double hi) {
  ZCHECK(lo < hi, "uniform: empty range [", lo, ", ", hi, ")");
  Tensor t = make(shape, DType::F32, Device::cpu());
  float* p = t.data<float>();
  float top = float(hi);  // the largest f32 below hi: values are drawn from [lo, hi)
  if (double(top) >= hi) top = std::nextafter(top, -INFINITY);
  parallel_for(0, t.numel(), 1 << 14, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) {
      float v = float(lo + (hi - lo) * double(Philox::uniform(seed, 0, uint64_t(i))));
      p[i] = v < top ? v : top;  // the f32 rounding of a value just below hi can land on hi
    }
  });
  return t;
}

Tensor Tensor::normal(const Shape& shape, uint64_t seed, double mean, double stddev) {
  Tensor t = make(shape, DType::F32, Device::cpu());
  float* p = t.data<float>();
  parallel_for(0, t.numel(), 1 << 13, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) p[i] = float(mean + stddev * double(Philox::normal(seed, 0, uint64_t(i))));
  });
  return t;
}

int64_t Tensor::size(int64_t axis) const { return shape()[size_t(norm_axis(axis, dim(), "size"))]; }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

std::string Tensor::summary() const {
  if (!defined()) return "undefined";
  return str(dtype_name(dtype()), shape_str(shape()), " ", device().str());
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data) + offset() * int64_t(dtype_size(dtype()));
}

double Tensor::item() const {
  ZCHECK(numel() == 1, "item(): tensor ", summary(), " has ", numel(), " elements, not 1");
  return to_double()[0];
}

std::vector<double> Tensor::to_double() const {
  Tensor c = to(Device::cpu()).contiguous();
  std::vector<double> v(size_t(c.numel()));
  convert_elements(c.raw_data(), c.dtype(), v.data(), DType::F64, c.numel());
  return v;
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).contiguous();
  std::vector<float> v(size_t(c.numel()));
  convert_elements(c.raw_data(), c.dtype(), v.data(), DType::F32, c.numel());
  return v;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = make(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = make(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = make(shape(), t, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor src = contiguous();
  Tensor out = make(shape(), dtype(), d);
  copy_bytes(out.raw_data(), d, src.raw_data(), src.device(), src.nbytes());
  return out;
}

Tensor Tensor::detach() const {
  auto d = std::make_shared<TensorImpl>();
  d->storage = impl().storage;
  d->shape = shape();
  d->strides = strides();
  d->offset = offset();
  d->dtype = dtype();
  return Tensor(d);
}

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t off) const {
  ZCHECK(shape.size() == strides.size(), "as_strided: shape ", shape_str(shape), " and strides ",
         shape_str(strides), " differ in rank");
  int64_t lo = off, hi = off;
  for (size_t i = 0; i < shape.size(); ++i) {
    ZCHECK(shape[i] >= 0, "as_strided: negative dimension in ", shape_str(shape));
    if (shape[i] == 0) { lo = 0; hi = -1; break; }
    int64_t span = strides[i] * (shape[i] - 1);
    (span < 0 ? lo : hi) += span;
  }
  int64_t cap = int64_t(impl().storage->nbytes / dtype_size(dtype()));
  ZCHECK(hi < lo || (lo >= 0 && hi < cap), "as_strided: view ", shape_str(shape), " strides ", shape_str(strides),
         " offset ", off, " reaches outside storage of ", cap, " elements");
  Tensor t = detach();
  t.impl().shape = shape;
  t.impl().strides = strides;
  t.impl().offset = off;
  return t;
}

Tensor Tensor::view(const Shape& s) const {
  Shape shape = s;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ZCHECK(infer < 0, "view: more than one -1 in ", shape_str(s));
      infer = int64_t(i);
    } else {
      ZCHECK(shape[i] >= 0, "view: bad dimension in ", shape_str(s));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ZCHECK(known > 0 && numel() % known == 0, "view: cannot infer -1 in ", shape_str(s), " for ", summary());
    shape[size_t(infer)] = numel() / known;
  }
  ZCHECK(zebra::numel(shape) == numel(), "view: shape ", shape_str(s), " does not match ", summary());
  ZCHECK(is_contiguous(), "view: tensor ", summary(), " is not contiguous (call contiguous() or reshape)");
  return as_strided(shape, contiguous_strides(shape), offset());
}

void Tensor::copy_(const Tensor& src) {
  ZCHECK(src.shape() == shape(), "copy_: source ", src.summary(), " does not match destination ", summary());
  if (!device().is_cpu() || !src.device().is_cpu()) {
    ZCHECK(is_contiguous(), "copy_: destination on ", device().str(), " must be contiguous");
    Tensor s = src.to(device()).contiguous();  // same-device, contiguous
    ZCHECK(s.dtype() == dtype(), "copy_: dtype conversion on ", device().str(), " goes through ops");
    copy_bytes(raw_data(), device(), s.raw_data(), s.device(), nbytes());
    return;
  }
  if (is_contiguous() && src.is_contiguous()) {
    const void* sp = src.raw_data();
    void* dp = raw_data();
    size_t ss = dtype_size(src.dtype()), ds = dtype_size(dtype());
    DType st = src.dtype(), dt = dtype();
    parallel_for(0, numel(), 1 << 16, [&](int64_t a, int64_t b) {
      convert_elements(static_cast<const char*>(sp) + a * ss, st, static_cast<char*>(dp) + a * ds, dt, b - a);
    });
    return;
  }
  // Strided: walk the outer indices of both views in step; the last axis is the inner loop.
  const char* sbase = static_cast<const char*>(src.impl().storage->data);
  char* dbase = static_cast<char*>(impl().storage->data);
  int64_t ss = int64_t(dtype_size(src.dtype())), ds = int64_t(dtype_size(dtype()));
  if (dim() == 0) {
    convert_elements(sbase + src.offset() * ss, src.dtype(), dbase + offset() * ds, dtype(), 1);
    return;
  }
  int64_t inner = shape().back(), sst = src.strides().back(), dst = strides().back();
  Shape outer(shape().begin(), shape().end() - 1);
  Shape souter(src.strides().begin(), src.strides().end() - 1), douter(strides().begin(), strides().end() - 1);
  int64_t rows = zebra::numel(outer);
  bool same4 = src.dtype() == dtype() && ss == 4;
  DType st = src.dtype(), dt = dtype();
  parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)), [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r) {
      int64_t so = src.offset(), d0 = offset(), rem = r;
      for (size_t d = outer.size(); d-- > 0;) {
        int64_t i = rem % outer[d];
        rem /= outer[d];
        so += i * souter[d];
        d0 += i * douter[d];
      }
      if (same4) {
        auto sp = reinterpret_cast<const uint32_t*>(sbase) + so;
        auto dp = reinterpret_cast<uint32_t*>(dbase) + d0;
        for (int64_t j = 0; j < inner; ++j) dp[j * dst] = sp[j * sst];
      } else {
        for (int64_t j = 0; j < inner; ++j)
          convert_elements(sbase + (so + j * sst) * ss, st, dbase + (d0 + j * dst) * ds, dt, 1);
      }
    }
  });
}

void Tensor::fill_(double value) {
  if (numel() == 0) return;
  if (!device().is_cpu()) {
    Tensor host = full(shape(), value, dtype(), Device::cpu());
    copy_(host);
    return;
  }
  // Build one element in the target dtype, then replicate it.
  alignas(8) unsigned char one[8];
  convert_elements(&value, DType::F64, one, dtype(), 1);
  size_t es = dtype_size(dtype());
  if (is_contiguous()) {
    char* p = static_cast<char*>(raw_data());
    if (dtype() == DType::F32) {
      float f;
      std::memcpy(&f, one, 4);
      float* fp = reinterpret_cast<float*>(p);
      parallel_for(0, numel(), 1 << 16, [&](int64_t a, int64_t b) { std::fill(fp + a, fp + b, f); });
    } else {
      for (int64_t i = 0; i < numel(); ++i) std::memcpy(p + i * int64_t(es), one, es);
    }
    return;
  }
  char* base = static_cast<char*>(impl().storage->data);
  for_each_offset(shape(), strides(), offset(), [&](int64_t, int64_t off) { std::memcpy(base + off * int64_t(es), one, es); });
}

Tensor& Tensor::set_requires_grad(bool r) {
  ZCHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked (this one is an op result)");
  ZCHECK(!r || is_floating(dtype()), "set_requires_grad: ", dtype_name(dtype()), " tensors cannot have gradients");
  impl().requires_grad = r;
  return *this;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { autograd::backward(*this, grad, retain_graph); }

void check_defined(const Tensor& t, const char* op, const char* arg) {
  ZCHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

void check_dtype(const Tensor& t, DType want, const char* op, const char* arg) {
  check_defined(t, op, arg);
  ZCHECK(t.dtype() == want, op, ": argument '", arg, "' must be ", dtype_name(want), ", got ", t.summary());
}

void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg) {
  check_defined(t, op, arg);
  ZCHECK(t.dim() == rank, op, ": argument '", arg, "' must have rank ", rank, ", got ", t.summary());
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  ZCHECK(a.device() == b.device(), op, ": tensors on different devices (", a.device().str(), " and ",
         b.device().str(), ")");
}

}  // namespace zebra
