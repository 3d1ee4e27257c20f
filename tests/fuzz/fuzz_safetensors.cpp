// libFuzzer target: arbitrary bytes parsed as a safetensors file. Parsing may only fail with
// zebra::Error; when it succeeds every tensor must read back, as stored and converted, and the
// stored bytes must come back unchanged. Anything else (a crash, a sanitizer report, another
// exception type) is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/safetensors.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void read_all(const zebra::SafetensorsFile& f) {
  using zebra::DType;
  for (const zebra::TensorInfo& t : f.tensors()) {
    zebra::Tensor raw = f.get(t.name);
    check(raw.dtype() == t.dtype && raw.shape() == t.shape && raw.nbytes() == t.nbytes());
    check(t.nbytes() == 0 || std::memcmp(raw.raw_data(), f.bytes() + f.data_start() + t.begin, t.nbytes()) == 0);
    // Every conversion, including the saturating float-to-integer ones.
    for (DType want : {DType::F32, DType::BF16, DType::F16, DType::F64, DType::I32, DType::I64, DType::U8}) {
      zebra::Tensor c = f.get(t.name, want);
      check(c.dtype() == want && c.shape() == t.shape && c.is_contiguous());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<zebra::SafetensorsFile> f;
  try {
    f.emplace(zebra::SafetensorsFile::from_bytes("fuzz.safetensors", data, size));
  } catch (const zebra::Error&) {
    return 0;
  }
  read_all(*f);
  return 0;
}
