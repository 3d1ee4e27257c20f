// backward(): reverse-mode traversal of the graph that ends at a tensor.
#pragma once
#include "autograd/node.h"

namespace zebra::autograd {

// Accumulates d(root)/d(leaf) · grad into every leaf's .grad(). Without retain_graph the graph's
// saved tensors are released as each node runs, and a second backward through it is an error.
void backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace zebra::autograd
