// Tensor: a cheap ref-counted handle (shape, strides, offset, dtype, device, storage) plus, when
// tracked by autograd, its grad and grad_fn. Methods here are the untracked primitives; the
// differentiable ops live in ops/.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace zebra {

struct Node;  // autograd/node.h

// Owns (or borrows, via `keepalive`) one buffer on one device.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  Allocator* alloc = nullptr;          // null when the bytes are borrowed
  std::shared_ptr<void> keepalive;     // e.g. an mmap'd safetensors file
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device d);
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes, Device d, std::shared_ptr<void> keepalive);
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward() on leaves
  std::shared_ptr<Node> grad_fn;     // set on results of tracked ops
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (untracked; call set_requires_grad for parameters) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::F32);  // rank 0
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<int32_t>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<int64_t>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& v, const Shape& shape);  // stored as f64
  static Tensor arange(int64_t n, DType dtype = DType::F32);
  // Philox streams (core/rng.h): element i of the result draws counter i, so the values do not
  // depend on thread count or device.
  static Tensor uniform(const Shape& shape, uint64_t seed, double lo = 0.0, double hi = 1.0);
  static Tensor normal(const Shape& shape, uint64_t seed, double mean = 0.0, double stddev = 1.0);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return zebra::numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  bool is_contiguous() const;
  std::string summary() const;  // "f32[2, 3] cpu"

  // ---- data access (CPU tensors; checks dtype) ----
  template <class T> T* data() const;
  void* raw_data() const;  // pointer to element 0 (offset applied), any device
  double item() const;     // a one-element tensor's value
  std::vector<float> to_vector() const;     // any dtype, converted to f32, row-major
  std::vector<double> to_double() const;    // any dtype, converted to f64, row-major

  // ---- untracked primitives ----
  Tensor contiguous() const;                 // self when already contiguous
  Tensor clone() const;                      // a contiguous deep copy
  Tensor to(DType t) const;                  // self when already t
  Tensor to(Device d) const;                 // self when already d
  Tensor detach() const;                     // same storage, no autograd history
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;
  Tensor view(const Shape& shape) const;     // contiguous only; one -1 allowed
  void copy_(const Tensor& src);             // same shape; converts dtype, crosses devices
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool r);         // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& g) { impl().grad = g.impl_; }
  void zero_grad() { impl().grad.reset(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // Back-propagates from this tensor; `grad` defaults to ones for a one-element tensor.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::BF16; };
template <> struct DTypeOf<f16> { static constexpr DType value = DType::F16; };

template <class T>
T* Tensor::data() const {
  ZCHECK(dtype() == DTypeOf<T>::value, "tensor data(): tensor is ", dtype_name(dtype()), ", asked for ",
         dtype_name(DTypeOf<T>::value));
  ZCHECK(device().is_cpu(), "tensor data(): tensor is on ", device().str(), ", not the host");
  return static_cast<T*>(raw_data());
}

// Argument checks shared by ops: each names the op and the argument in its message.
void check_dtype(const Tensor& t, DType want, const char* op, const char* arg);
void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg);
void check_defined(const Tensor& t, const char* op, const char* arg);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);

}  // namespace zebra
