// Shapes and strides (in elements) and the small helpers every op needs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace zebra {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
// Normalises a possibly negative axis against rank; throws Error naming `op` when out of range.
int64_t norm_axis(int64_t axis, int64_t rank, const char* op);
// NumPy broadcasting of two shapes; throws Error naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read a tensor of shape `s` / `strides` as if it had the (broadcast) shape `out`.
Shape broadcast_strides(const Shape& s, const Shape& strides, const Shape& out);

}  // namespace zebra
