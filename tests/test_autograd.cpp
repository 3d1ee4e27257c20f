// The autograd engine, exercised with ops defined here through record() so that nothing depends on
// the op families: accumulation, grad modes, graph release, rule validation and the gradient checker.
#include <cmath>
#include <memory>
#include <thread>

#include "autograd/engine.h"
#include "autograd/node.h"
#include "core/rng.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

// Plain-loop elementwise helpers on contiguous f32 tensors (no ops/ dependency).
template <class F>
Tensor map1(const Tensor& a, F f) {
  Tensor ac = a.contiguous(), out = Tensor::empty(a.shape());
  const float* p = ac.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) o[i] = f(p[i]);
  return out;
}
template <class F>
Tensor map2(const Tensor& a, const Tensor& b, F f) {
  Tensor ac = a.contiguous(), bc = b.contiguous(), out = Tensor::empty(a.shape());
  const float *p = ac.data<float>(), *q = bc.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) o[i] = f(p[i], q[i]);
  return out;
}

// square(a) = a^2 with the rule g * 2a; `factor` 1 gives the deliberately wrong rule g * a.
Tensor square_impl(const Tensor& a, float factor, const char* name) {
  Tensor out = map1(a, [](float x) { return x * x; });
  Tensor saved = a.detach();
  return record(out, name, {a}, [saved, factor](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{map2(g, saved, [factor](float gi, float x) { return gi * factor * x; })};
  });
}
Tensor square(const Tensor& a) { return square_impl(a, 2.0f, "square"); }
Tensor wrong_square(const Tensor& a) { return square_impl(a, 1.0f, "wrong_square"); }

Tensor add2(const Tensor& a, const Tensor& b) {
  Tensor out = map2(a, b, [](float x, float y) { return x + y; });
  return record(out, "add2", {a, b}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g, g};
  });
}

Tensor mul2(const Tensor& a, const Tensor& b) {
  Tensor out = map2(a, b, [](float x, float y) { return x * y; });
  Tensor sa = a.detach(), sb = b.detach();
  return record(out, "mul2", {a, b}, [sa, sb](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{needs[0] ? map2(g, sb, [](float x, float y) { return x * y; }) : Tensor(),
                               needs[1] ? map2(g, sa, [](float x, float y) { return x * y; }) : Tensor()};
  });
}

Tensor scale(const Tensor& a, float s) {
  Tensor out = map1(a, [s](float x) { return x * s; });
  return record(out, "scale", {a}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{map1(g, [s](float x) { return x * s; })};
  });
}

Tensor sum_all(const Tensor& a) {
  double s = 0;
  for (double v : a.to_double()) s += v;
  Shape shape = a.shape();
  return record(Tensor::scalar(s), "sum_all", {a}, [shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{Tensor::full(shape, g.item())};
  });
}

// Identity forward whose rule gives its input no gradient.
Tensor stop(const Tensor& a) {
  return record(a.clone(), "stop", {a}, [](const Tensor&, const std::vector<bool>&) {
    return std::vector<Tensor>{Tensor()};
  });
}

std::vector<double> times(const Tensor& t, double k) {
  std::vector<double> v = t.to_double();
  for (double& x : v) x *= k;
  return v;
}

TEST(Autograd, RecordBuildsANode) {
  Tensor x = test::param(test::rand({5}, 1));
  Tensor c = test::rand({5}, 2);
  Tensor y = mul2(x, c);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name, "mul2");
  ASSERT_EQ(y.grad_fn()->edges.size(), 2u);
  EXPECT_EQ(y.grad_fn()->edges[0].leaf, x.impl_ptr());
  EXPECT_FALSE(y.grad_fn()->edges[1].active());  // a constant gets no edge
  Tensor z = square(y);
  EXPECT_EQ(z.grad_fn()->edges[0].node, y.grad_fn());
  EXPECT_GT(z.grad_fn()->seq, y.grad_fn()->seq);
  Tensor k = square(c);  // no input requires grad: nothing is recorded
  EXPECT_FALSE(k.requires_grad());
  EXPECT_FALSE(k.grad_fn());
  EXPECT_ERROR(y.set_requires_grad(false), "only leaf tensors");
}

TEST(Autograd, SingleOpGradient) {
  Tensor x = test::param(test::rand({7}, 3));
  sum_all(square(x)).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(test::all_close(x.grad(), times(x, 2.0), 0, 0));
}

TEST(Autograd, DiamondAccumulates) {
  // x feeds two branches that meet again: d/dx sum(x^2 + 3x) = 2x + 3.
  Tensor x = test::param(test::rand({13}, 4));
  sum_all(add2(square(x), scale(x, 3.0f))).backward();
  std::vector<double> want = x.to_double();
  for (double& v : want) v = 2 * v + 3;
  EXPECT_TRUE(test::all_close(x.grad(), want, 1e-6, 1e-6));

  // The same input twice in one op: d/dx sum(x * x) = 2x.
  Tensor x2 = test::param(test::rand({5}, 5));
  sum_all(mul2(x2, x2)).backward();
  EXPECT_TRUE(test::all_close(x2.grad(), times(x2, 2.0), 1e-6, 1e-6));

  // A diamond on an interior node: y = x^2 reaches the sum through scale 2 and scale 3, so dy = 5.
  Tensor x3 = test::param(test::rand({3, 5}, 6));
  Tensor y = square(x3);
  sum_all(add2(scale(y, 2.0f), scale(y, 3.0f))).backward();
  EXPECT_TRUE(test::all_close(x3.grad(), times(x3, 10.0), 1e-6, 1e-6));
}

TEST(Autograd, LeafGradsAccumulateAcrossCalls) {
  Tensor x = test::param(test::rand({5}, 7));
  sum_all(square(x)).backward();
  sum_all(scale(x, 4.0f)).backward();
  std::vector<double> want = x.to_double();
  for (double& v : want) v = 2 * v + 4;
  EXPECT_TRUE(test::all_close(x.grad(), want, 1e-6, 1e-6));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum_all(scale(x, 4.0f)).backward();
  EXPECT_EQ(x.grad().to_double(), std::vector<double>(5, 4.0));
  // The first gradient is a private copy: the rule's result (here the seed itself) is not aliased.
  Tensor p = test::param(test::rand({3}, 8));
  Tensor seed = Tensor::ones({3});
  scale(p, 1.0f).backward(seed);
  p.grad().data<float>()[0] = 100.0f;
  EXPECT_EQ(seed.data<float>()[0], 1.0f);
}

TEST(Autograd, BackwardOnALeaf) {
  Tensor x = test::param(Tensor::zeros({3}));
  x.backward(Tensor::full({3}, 2.0));
  x.backward(Tensor::full({3}, 0.5));
  EXPECT_EQ(x.grad().to_double(), std::vector<double>(3, 2.5));
}

TEST(Autograd, NoGradAndEnableGrad) {
  Tensor x = test::param(test::rand({5}, 9));
  EXPECT_TRUE(grad_enabled());
  {
    NoGrad ng;
    EXPECT_FALSE(grad_enabled());
    Tensor y = square(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
    EXPECT_ERROR(y.backward(), "does not require grad");
    {
      EnableGrad eg;
      EXPECT_TRUE(grad_enabled());
      Tensor z = square(x);
      EXPECT_TRUE(z.requires_grad());
      sum_all(z).backward();
      {
        NoGrad inner;
        EXPECT_FALSE(grad_enabled());
      }
      EXPECT_TRUE(grad_enabled());
    }
    EXPECT_FALSE(grad_enabled());
    EXPECT_FALSE(square(x).requires_grad());
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_TRUE(test::all_close(x.grad(), times(x, 2.0), 0, 0));
  // Grad mode is per thread.
  NoGrad ng;
  bool other = false;
  std::thread([&] { other = grad_enabled(); }).join();
  EXPECT_TRUE(other);
}

TEST(Autograd, RulesRunWithoutGrad) {
  Tensor x = test::param(test::rand({3}, 10));
  bool inside = true;
  std::vector<bool> seen;
  Tensor c = test::rand({3}, 11);
  Tensor y = record(map2(x, c, [](float a, float b) { return a * b; }), "probe", {x, c},
                    [&](const Tensor& g, const std::vector<bool>& needs) {
                      inside = grad_enabled();
                      seen = needs;
                      return std::vector<Tensor>{g, Tensor()};
                    });
  y.backward(Tensor::ones({3}));
  EXPECT_FALSE(inside);
  EXPECT_EQ(seen, (std::vector<bool>{true, false}));
}

TEST(Autograd, DetachCutsHistory) {
  Tensor x = test::param(test::rand({5}, 12));
  Tensor y = square(x);
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(square(d).requires_grad());
  // Only the attached branch contributes: d/dx sum(x^2 + stop_gradient(x^2)) = 2x.
  sum_all(add2(y, d)).backward();
  EXPECT_TRUE(test::all_close(x.grad(), times(x, 2.0), 0, 0));
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = test::param(test::rand({5}, 13));
  Tensor loss = sum_all(square(x));
  loss.backward();
  EXPECT_ERROR(loss.backward(), "retain_graph");
  Tensor x2 = test::param(test::rand({5}, 14));
  Tensor loss2 = sum_all(square(x2));
  loss2.backward(Tensor(), true);
  loss2.backward(Tensor(), true);
  loss2.backward();
  EXPECT_TRUE(test::all_close(x2.grad(), times(x2, 6.0), 1e-6, 1e-6));
  EXPECT_ERROR(loss2.backward(), "retain_graph");
}

TEST(Autograd, BackwardArgumentErrors) {
  Tensor x = test::param(test::rand({2, 3}, 15));
  Tensor y = square(x);
  EXPECT_ERROR(y.backward(), "a gradient is required for non-scalar output f32[2, 3] cpu");
  EXPECT_ERROR(y.backward(Tensor::ones({3, 2}), true), "gradient f32[3, 2] cpu does not match output f32[2, 3] cpu");
  EXPECT_ERROR(y.backward(Tensor::ones({2, 3}, DType::F64), true), "gradient f64[2, 3] cpu does not match");
  Tensor w = test::rand({2, 3}, 16);
  y.backward(w);  // an explicit gradient: d/dx sum(w * x^2) = 2 w x
  std::vector<double> want = x.to_double(), wv = w.to_double();
  for (size_t i = 0; i < want.size(); ++i) want[i] *= 2 * wv[i];
  EXPECT_TRUE(test::all_close(x.grad(), want, 1e-6, 1e-6));
  EXPECT_ERROR(test::rand({3}, 17).backward(Tensor::ones({3})), "does not require grad");
  EXPECT_ERROR(Tensor().backward(), "undefined");
}

TEST(Autograd, RuleResultsAreValidated) {
  Tensor x = test::param(test::rand({3, 5}, 18));
  Tensor bad_shape = record(x.clone(), "bad_shape_op", {x}, [](const Tensor&, const std::vector<bool>&) {
    return std::vector<Tensor>{Tensor::ones({5, 3})};
  });
  EXPECT_ERROR(bad_shape.backward(Tensor::ones({3, 5})),
               "rule of 'bad_shape_op' gave input 0 a gradient of shape [5, 3], expected [3, 5]");
  Tensor bad_count = record(x.clone(), "bad_count_op", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g, g};
  });
  EXPECT_ERROR(bad_count.backward(Tensor::ones({3, 5})), "rule of 'bad_count_op' returned 2 gradients for 1 inputs");
  // Deeper in the graph the message still names the faulty node, not the root.
  Tensor deep = record(x.clone(), "bad_deep", {x}, [](const Tensor&, const std::vector<bool>&) {
    return std::vector<Tensor>{Tensor::ones({15})};
  });
  EXPECT_ERROR(sum_all(square(deep)).backward(), "rule of 'bad_deep'");
}

TEST(Autograd, BranchWithoutGradientDoesNotBlock) {
  // a = x^2 is consumed only by stop(), which gives it no gradient; x itself is also reached
  // through 3x, and a's node must still release its count so the traversal reaches everything.
  Tensor x = test::param(test::rand({7}, 19));
  Tensor a = square(x);
  sum_all(add2(stop(a), scale(x, 3.0f))).backward();
  EXPECT_EQ(x.grad().to_double(), std::vector<double>(7, 3.0));
  // An interior node fed by a dead branch and a live one gets only the live gradient:
  // b = x^2 reaches the sum through stop(b) and through 2b, so dx = 2 * 2x.
  Tensor x2 = test::param(test::rand({7}, 20));
  Tensor b = square(x2);
  sum_all(add2(stop(b), scale(b, 2.0f))).backward();
  EXPECT_TRUE(test::all_close(x2.grad(), times(x2, 4.0), 1e-6, 1e-6));
  // When no path carries a gradient the leaf's grad stays undefined.
  Tensor x3 = test::param(test::rand({7}, 21));
  sum_all(stop(square(x3))).backward();
  EXPECT_FALSE(x3.grad().defined());
}

TEST(Autograd, RecordNeverRewritesAnInput) {
  // An op that returns one of its inputs unchanged must not give that input a history.
  Tensor x = test::param(test::rand({4}, 22));
  Tensor c = test::rand({4}, 23);
  auto passthrough = [](const Tensor& a, const Tensor& b, const Tensor& out) {
    return record(out, "pass", {a, b}, [](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g, Tensor()};
    });
  };
  Tensor y = passthrough(x, c, x);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.impl().storage, x.impl().storage);
  Tensor z = passthrough(x, c, c);
  EXPECT_FALSE(c.requires_grad());
  EXPECT_TRUE(c.is_leaf());
  EXPECT_TRUE(z.requires_grad());
  sum_all(add2(y, scale(z, 2.0f))).backward();
  EXPECT_EQ(x.grad().to_double(), std::vector<double>(4, 3.0));
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, SavedTensorsFreedAfterBackward) {
  Tensor x = test::param(test::rand({64}, 24));
  std::weak_ptr<TensorImpl> watch;
  Tensor loss;
  {
    Tensor y = square(x);
    Tensor saved = y.detach();  // the rule below owns the only other handle
    watch = saved.impl_ptr();
    loss = sum_all(record(map1(y, [](float v) { return v * v; }), "square_saved", {y},
                          [saved](const Tensor& g, const std::vector<bool>&) {
                            return std::vector<Tensor>{map2(g, saved, [](float a, float b) { return 2 * a * b; })};
                          }));
  }
  EXPECT_FALSE(watch.expired());
  loss.backward(Tensor(), true);
  EXPECT_FALSE(watch.expired());  // retain_graph keeps them
  int64_t before = cpu_allocator().stats().live_bytes;
  loss.backward();
  EXPECT_TRUE(watch.expired());
  // Storage of saved tensors goes back to the allocator (grad buffers are replaced, not grown).
  EXPECT_LT(cpu_allocator().stats().live_bytes, before);
  std::vector<double> xv = x.to_double();
  std::vector<float> g = x.grad().to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_NEAR(g[i], 2 * 4 * std::pow(xv[i], 3), 1e-4);
}

TEST(Autograd, DeepChainBackwardAndRelease) {
  // A chain far deeper than a recursive traversal or a recursive release could survive.
  Tensor x = test::param(Tensor::full({1}, 1.0));
  Tensor y = x;
  const int depth = 200000;
  for (int i = 0; i < depth; ++i) y = scale(y, i % 2 ? 2.0f : 0.5f);
  y.backward(Tensor::ones({1}));
  EXPECT_EQ(x.grad().item(), 1.0);
  y = Tensor();  // the graph is released here
  // A graph that is dropped without backward (e.g. an eval pass that forgot NoGrad).
  Tensor z = x;
  for (int i = 0; i < depth; ++i) z = square(z);
  std::weak_ptr<Node> last = z.grad_fn();
  z = Tensor();
  EXPECT_TRUE(last.expired());
}

TEST(Autograd, GradcheckPassesForCorrectRules) {
  auto f = [](const std::vector<Tensor>& in) { return square(in[0]); };
  EXPECT_GRADCHECK(f, {test::param(test::rand({3, 5}, 25))});
  auto g = [](const std::vector<Tensor>& in) { return add2(mul2(in[0], in[1]), square(in[1])); };
  EXPECT_GRADCHECK(g, (std::vector<Tensor>{test::param(test::rand({7}, 26)), test::param(test::rand({7}, 27))}));
  // An input that does not require grad is not checked.
  GradcheckResult r = gradcheck(g, {test::param(test::rand({7}, 28)), test::rand({7}, 29)});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.checked, 7);
  // Large inputs are spot-checked.
  GradcheckOptions few;
  few.max_checks_per_input = 10;
  r = gradcheck(f, {test::param(test::rand({67}, 30))}, few);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.checked, 10);
  // The caller's tensors are left alone.
  Tensor p = test::param(test::rand({5}, 31));
  std::vector<double> pv = p.to_double();
  gradcheck(f, {p});
  EXPECT_FALSE(p.grad().defined());
  EXPECT_EQ(p.to_double(), pv);
}

TEST(Autograd, GradcheckFailsForAWrongRule) {
  auto f = [](const std::vector<Tensor>& in) { return wrong_square(in[0]); };
  Tensor x = test::param(test::rand({3, 5}, 32, 0.5, 1.5));  // away from 0, where g*x and g*2x agree
  GradcheckResult r = gradcheck(f, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.max_abs_error, 0.1);
  EXPECT_EQ(r.checked, 15);
  EXPECT_NE(r.message.find("input 0"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("element "), std::string::npos) << r.message;
  // The named element is the worst one: with a wrong factor the error is |w_i * x_i|.
  std::vector<double> xv = x.to_double();
  size_t worst = 0;
  double worst_err = -1;
  for (size_t i = 0; i < xv.size(); ++i) {
    double e = std::fabs(Philox::normal(GradcheckOptions{}.seed, 7, i) * xv[i]);
    if (e > worst_err) worst_err = e, worst = i;
  }
  EXPECT_NE(r.message.find(str("element ", worst, ":")), std::string::npos) << r.message;
  EXPECT_NEAR(r.max_abs_error, worst_err, 1e-2);
  // A wrong second input is caught while the first is fine.
  auto h = [](const std::vector<Tensor>& in) { return add2(square(in[0]), wrong_square(in[1])); };
  r = gradcheck(h, {test::param(test::rand({4}, 33)), test::param(test::rand({4}, 34, 0.5, 1.5))});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("input 1"), std::string::npos) << r.message;
}

TEST(Autograd, GradcheckErrors) {
  auto f = [](const std::vector<Tensor>& in) { return square(in[0]); };
  EXPECT_ERROR(gradcheck(f, {test::rand({3}, 35)}), "does not require grad");
  NoGrad ng;
  EXPECT_ERROR(gradcheck(f, {test::param(test::rand({3}, 36))}), "does not require grad");
}

}  // namespace
}  // namespace zebra
