#include "autograd/engine.h"

#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "ops/elementwise.h"

namespace zebra {

namespace {
thread_local bool tl_grad_enabled = true;
std::atomic<uint64_t> g_node_seq{0};

// Each node owns its inputs' nodes, so letting shared_ptr free a long chain recurses once per node
// and overflows the stack (a 200k-op graph is enough). The deleter queues the input nodes instead,
// and the outermost deletion on this thread releases the queue in a loop.
void delete_node(Node* n) {
  thread_local std::vector<std::shared_ptr<Node>> orphans;
  thread_local bool draining = false;
  for (Edge& e : n->edges)
    if (e.node) orphans.push_back(std::move(e.node));
  if (draining) {
    delete n;
    return;
  }
  draining = true;
  delete n;  // may release more nodes (a rule's captures): they queue too
  while (!orphans.empty()) {
    std::shared_ptr<Node> next = std::move(orphans.back());
    orphans.pop_back();
    next.reset();
  }
  draining = false;
}
}  // namespace

bool grad_enabled() { return tl_grad_enabled; }
NoGrad::NoGrad() : prev_(tl_grad_enabled) { tl_grad_enabled = false; }
NoGrad::~NoGrad() { tl_grad_enabled = prev_; }
EnableGrad::EnableGrad() : prev_(tl_grad_enabled) { tl_grad_enabled = true; }
EnableGrad::~EnableGrad() { tl_grad_enabled = prev_; }

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!tl_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!tl_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!any_requires_grad(inputs)) return out;
  // An op may hand back an input itself (e.g. contiguous() of a contiguous tensor); giving that
  // handle a history would rewrite the caller's tensor and make a cycle, so use a fresh handle.
  for (const Tensor& t : inputs)
    if (t.defined() && out.same(t)) {
      out = out.detach();
      break;
    }
  std::shared_ptr<Node> node(new Node, delete_node);
  node->name = name;
  node->fn = std::move(fn);
  node->seq = g_node_seq.fetch_add(1);
  node->edges.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn()) e.node = t.grad_fn();
      else e.leaf = t.impl_ptr();
      e.shape = t.shape();
    }
    node->edges.push_back(std::move(e));
  }
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
  return out;
}

namespace autograd {

namespace {
Tensor add_grads(const Tensor& a, const Tensor& b) { return add(a, b); }

void accumulate_leaf(TensorImpl& leaf, Tensor g) {
  if (!leaf.grad) {
    // Own the buffer: the rule's result may alias saved tensors or the caller's seed. A gradient
    // nothing else holds (the usual case, its rule's closure already released) is adopted as is.
    const auto& sp = g.impl_ptr();
    bool exclusive = sp.use_count() == 1 && sp->storage.use_count() == 1 && !sp->grad_fn && g.is_contiguous();
    leaf.grad = exclusive ? sp : g.clone().impl_ptr();
  } else {
    leaf.grad = add_grads(Tensor(leaf.grad), g).impl_ptr();
  }
}
}  // namespace

void backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  ZCHECK(root.defined(), "backward: undefined tensor");
  ZCHECK(root.requires_grad(), "backward: tensor ", root.summary(), " does not require grad (no tracked inputs)");
  Tensor seed = grad_in;
  if (!seed.defined()) {
    ZCHECK(root.numel() == 1, "backward: a gradient is required for non-scalar output ", root.summary());
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  // Rules see the seed as their grad_out, so its dtype and device must be the output's too.
  ZCHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype() && seed.device() == root.device(),
         "backward: gradient ", seed.summary(), " does not match output ", root.summary());
  NoGrad no_grad;
  if (!root.grad_fn()) {
    accumulate_leaf(root.impl(), seed);
    return;
  }
  // Count, for each node, how many edges reach it from the nodes that depend on it.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{root.grad_fn().get()};
  std::unordered_set<Node*> seen{root.grad_fn().get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->edges) {
      if (!e.node) continue;
      deps[e.node.get()]++;
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }
  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = seed;
  // Kahn's order: a node runs once every node that feeds it a gradient has run. A node that
  // receives no gradient at all still "runs" (without calling its rule) so its inputs' counts drop.
  std::vector<std::shared_ptr<Node>> ready{root.grad_fn()};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.back();
    ready.pop_back();
    Tensor g;
    if (auto it = grads.find(node.get()); it != grads.end()) {
      g = std::move(it->second);
      grads.erase(it);
    }
    std::vector<Tensor> in_grads;
    if (g.defined()) {
      ZCHECK(node->fn, "backward: node '", node->name,
             "' was already run and its saved tensors freed (pass retain_graph to backward twice)");
      std::vector<bool> needs(node->edges.size());
      for (size_t i = 0; i < needs.size(); ++i) needs[i] = node->edges[i].active();
      in_grads = node->fn(g, needs);
      ZCHECK(in_grads.size() == node->edges.size(), "backward: rule of '", node->name, "' returned ",
             in_grads.size(), " gradients for ", node->edges.size(), " inputs");
    }
    if (!retain_graph) node->fn = nullptr;
    for (size_t i = 0; i < node->edges.size(); ++i) {
      Edge& e = node->edges[i];
      Tensor gi = i < in_grads.size() ? std::move(in_grads[i]) : Tensor();
      if (gi.defined() && e.active())
        ZCHECK(gi.shape() == e.shape, "backward: rule of '", node->name, "' gave input ", i, " a gradient of shape ",
               shape_str(gi.shape()), ", expected ", shape_str(e.shape));
      if (e.node) {
        Node* next = e.node.get();
        if (gi.defined()) {
          auto it = grads.find(next);
          if (it == grads.end()) grads.emplace(next, gi);
          else it->second = add_grads(it->second, gi);
        }
        if (--deps[next] == 0) ready.push_back(e.node);
      } else if (e.leaf && gi.defined()) {
        accumulate_leaf(*e.leaf, std::move(gi));
      }
    }
  }
}

}  // namespace autograd
}  // namespace zebra
