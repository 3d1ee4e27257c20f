// Autograd graph nodes. Each tracked op result owns one Node; the node's edges point at the nodes
// (or leaf tensors) of the op's inputs. Saved tensors live in the backward closure and are freed
// once backward() has run it.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace zebra {

// grads[i] for input i; an undefined Tensor means "no gradient". needs[i] says whether input i
// wants one, so a rule can skip work (e.g. the weight gradient of a frozen layer).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const std::vector<bool>& needs)>;

struct Edge {
  std::shared_ptr<Node> node;        // input was produced by a tracked op
  std::shared_ptr<TensorImpl> leaf;  // or it is a leaf that requires grad
  Shape shape;                       // the input's shape, to check the rule's result
  bool active() const { return node || leaf; }
};

struct Node {
  std::string name;
  std::vector<Edge> edges;
  BackwardFn fn;
  uint64_t seq = 0;  // creation order
};

// Grad mode: on by default, per thread.
bool grad_enabled();
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};
class EnableGrad {
 public:
  EnableGrad();
  ~EnableGrad();
  EnableGrad(const EnableGrad&) = delete;
  EnableGrad& operator=(const EnableGrad&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and some input requires a gradient (directly or through its history).
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// The one way ops record themselves: when tracking applies, gives `out` a node named `name` with
// edges to `inputs` and backward rule `fn`, and marks it as requiring grad. Returns `out`.
// Rules must not capture `out` itself (a cycle); capture out.detach() instead.
Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn);

}  // namespace zebra
