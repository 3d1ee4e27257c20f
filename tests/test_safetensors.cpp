// safetensors reader/writer and sharded checkpoints: bit-exact round trips of every dtype, lazy
// conversion, zero-copy borrowing, a hand-built reference file, every malformed header, atomic
// writes under failure, and sharded save/load.
#include "core/safetensors.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "tests/test_util.h"

namespace zebra {
namespace {

namespace fs = std::filesystem;

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

// A file whose header is exactly `json` (no padding) followed by `data`.
std::string raw_file(const std::string& json, const std::string& data = "") { return le64(json.size()) + json + data; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string contiguous_bytes(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

::testing::AssertionResult bit_equal(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape())
    return ::testing::AssertionFailure() << got.summary() << " vs " << want.summary();
  if (contiguous_bytes(got) != contiguous_bytes(want)) return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = str("/tmp/zebra-st-", ::getpid(), "-", counter++);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }

  // Writes `bytes` to a file, opens it from disk and from memory, and expects both to fail with
  // a message naming the file and containing `phrase`.
  void expect_rejected(const std::string& bytes, const std::string& phrase) {
    std::string path = at(str("case", cases_++, ".safetensors"));
    write_file(path, bytes);
    for (int from_disk = 0; from_disk < 2; ++from_disk) {
      try {
        if (from_disk)
          SafetensorsFile::open(path);
        else
          SafetensorsFile::from_bytes(path, bytes.data(), bytes.size());
        ADD_FAILURE() << "accepted a file that should fail with '" << phrase << "'";
      } catch (const Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find(phrase), std::string::npos) << "'" << msg << "' lacks '" << phrase << "'";
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      }
    }
  }

  std::string dir_;
  int cases_ = 0;
};

const DType kAllDTypes[] = {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64, DType::U8, DType::F64};

// Odd-shaped values of dtype `t`; floats include values that do not survive careless copying.
Tensor sample(DType t, const Shape& shape, uint64_t seed) {
  if (!is_floating(t)) {
    Tensor r = Tensor::uniform(shape, seed, 0, 250).to(DType::I64);
    if (t == DType::I64 && r.numel() > 1) r.data<int64_t>()[1] = std::numeric_limits<int64_t>::min() + 3;
    return r.to(t);
  }
  Tensor f = Tensor::uniform(shape, seed, -3, 3).to(DType::F64);
  double* p = f.data<double>();
  if (f.numel() >= 4) {
    p[0] = std::numeric_limits<double>::quiet_NaN();
    p[1] = -0.0;
    p[2] = -std::numeric_limits<double>::infinity();
    p[3] = t == DType::F64 ? 1e-310 : 1e-41;  // subnormal in f64 / f32
  }
  return f.to(t);
}

TEST_F(Safetensors, RoundTripsEveryDtypeBitExactly) {
  NamedTensors in;
  for (DType t : kAllDTypes) {
    std::string n = dtype_name(t);
    in.emplace_back(n + ".dense", sample(t, {3, 5, 7}, 11));
    in.emplace_back(n + ".strided", test::noncontig(sample(t, {13, 5}, 12)));
    in.emplace_back(n + ".scalar", sample(t, {}, 13));
    in.emplace_back(n + ".empty", Tensor::empty({0, 3}, t));
    in.emplace_back(n + ".odd", sample(t, {67}, 14));
  }
  Metadata meta{{"format", "pt"}, {"note", "line\nbreak \"quoted\""}};
  std::string path = at("all.safetensors");
  save_safetensors(path, in, meta);

  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(f.data_start() % 8, 0u);
  ASSERT_EQ(f.tensors().size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& [name, t] = in[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(f.names()[i], name);  // header keeps the caller's order
    const TensorInfo& info = f.info(name);
    EXPECT_EQ(info.dtype, t.dtype());
    EXPECT_EQ(info.shape, t.shape());
    EXPECT_EQ(info.nbytes(), t.nbytes());
    EXPECT_EQ(info.begin % dtype_size(t.dtype()), 0u);
    EXPECT_TRUE(bit_equal(f.get(name), t));
  }
  EXPECT_EQ(f.get("u8.odd").to_double(), in[29].second.to_double());
}

TEST_F(Safetensors, LazyConversionBf16F16ToF32) {
  // bf16 and f16 bit patterns with their exact values.
  std::vector<uint16_t> bf = {0x3f80, 0xc020, 0x4049, 0x7f7f, 0x0001, 0xff80, 0x8000};
  std::vector<double> bf_want = {1.0, -2.5, 3.140625, 3.3895313892515355e38, 9.183549615799121e-41,
                                 -INFINITY, -0.0};
  std::vector<uint16_t> h = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x7c00, 0x8000};
  std::vector<double> h_want = {1.0, -2.0, 65504.0, 5.960464477539063e-08, 0.333251953125, INFINITY, -0.0};
  std::string json = R"({"b":{"dtype":"BF16","shape":[7],"data_offsets":[0,14]},)"
                     R"("h":{"dtype":"F16","shape":[7],"data_offsets":[14,28]}})";
  std::string data(28, '\0');
  std::memcpy(data.data(), bf.data(), 14);
  std::memcpy(data.data() + 14, h.data(), 14);
  std::string file = raw_file(json, data);
  SafetensorsFile f = SafetensorsFile::from_bytes("halves", file.data(), file.size());
  Tensor b = f.get("b", DType::F32), hf = f.get("h", DType::F32);
  EXPECT_EQ(b.dtype(), DType::F32);
  EXPECT_TRUE(test::all_close(b, bf_want, 0, 0));
  EXPECT_TRUE(test::all_close(hf, h_want, 0, 0));
  EXPECT_TRUE(std::signbit(b.to_double()[6]));
  EXPECT_TRUE(test::all_close(f.get("h", DType::F64), h_want, 0, 0));
}

// Nearest bf16 (ties to even) of a finite float, found by searching the neighbours in double.
uint16_t bf16_reference(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  uint16_t lo = uint16_t(u >> 16), hi = uint16_t(lo + 1);
  auto val = [](uint16_t b) {
    uint32_t w = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &w, 4);
    return double(f);
  };
  double dl = std::fabs(double(x) - val(lo)), dh = std::fabs(double(x) - val(hi));
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) ? hi : lo;
}

TEST_F(Safetensors, LazyConversionF32ToBf16) {
  std::vector<float> v = {1.0f, 1.00390625f, 1.01171875f, -3.3e38f, 1e-40f, 0.1f, -7.25f};
  Tensor odd = Tensor::uniform({67}, 5, -100, 100);
  for (float x : odd.to_vector()) v.push_back(x);
  std::string path = at("f32.safetensors");
  save_safetensors(path, {{"v", Tensor::from_vector(v, {int64_t(v.size())})}});
  Tensor b = SafetensorsFile::open(path).get("v", DType::BF16);
  ASSERT_EQ(b.dtype(), DType::BF16);
  const bf16* p = b.data<bf16>();
  EXPECT_EQ(p[0].bits, 0x3f80);
  EXPECT_EQ(p[1].bits, 0x3f80);  // tie, rounds to even
  EXPECT_EQ(p[2].bits, 0x3f82);  // tie, rounds to even (up)
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(p[i].bits, bf16_reference(v[i])) << "element " << i << " " << v[i];
}

TEST_F(Safetensors, ZeroCopySharesTheMapping) {
  Tensor w = sample(DType::F32, {13, 5}, 3);
  std::string path = at("w.safetensors");
  save_safetensors(path, {{"w", w}, {"i", Tensor::arange(5, DType::I64)}});
  Tensor a, b;
  const void* expect = nullptr;
  {
    SafetensorsFile f = SafetensorsFile::open(path);
    a = f.get("w");
    b = f.get("w", DType::F32);
    expect = f.bytes() + f.data_start() + f.info("w").begin;
    EXPECT_EQ(a.raw_data(), expect);
    EXPECT_EQ(b.raw_data(), expect);
    EXPECT_EQ(f.get("i").raw_data(), f.bytes() + f.data_start() + f.info("i").begin);
    Tensor converted = f.get("w", DType::F64);
    EXPECT_NE(converted.raw_data(), expect);
    EXPECT_TRUE(test::all_close(converted, w.to_double(), 0, 0));
  }
  // The file object is gone; the tensors keep the mapping alive.
  EXPECT_TRUE(bit_equal(a, w));
  a.data<float>()[5] = 42.0f;
  EXPECT_EQ(b.data<float>()[5], 42.0f);
  // The mapping is private: the file on disk is unchanged.
  EXPECT_TRUE(bit_equal(SafetensorsFile::open(path).get("w"), w));
}

TEST_F(Safetensors, MisalignedDataIsCopied) {
  // Header of 9 bytes puts the data region at offset 17: f32 loads there would be misaligned.
  std::string json = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  std::string header = json + std::string((16 - (json.size() + 8) % 8) % 8 + 1, ' ');
  ASSERT_NE((8 + header.size()) % 4, 0u);
  float vals[3] = {1.5f, -2.0f, 3.25f};
  std::string bytes = le64(header.size()) + header + std::string(reinterpret_cast<char*>(vals), 12);
  SafetensorsFile f = SafetensorsFile::from_bytes("odd", bytes.data(), bytes.size());
  Tensor t = f.get("a");
  EXPECT_NE(t.raw_data(), f.bytes() + f.data_start());
  EXPECT_EQ(t.to_vector(), std::vector<float>({1.5f, -2.0f, 3.25f}));
  EXPECT_TRUE(test::all_close(f.get("a", DType::F64), {1.5, -2.0, 3.25}, 0, 0));
}

TEST_F(Safetensors, WritesTheReferenceLayoutByteForByte) {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector(std::vector<int64_t>{-1, 7}, {2});
  Tensor c = Tensor::from_vector(std::vector<float>{1, -2, 0.5}, {3}).to(DType::BF16);
  save_safetensors(at("ref.safetensors"), {{"a", a}, {"b", b}, {"c", c}}, {{"format", "pt"}});

  // Header in the caller's order; data ordered by element size: b (8), a (4), c (2).
  std::string json =
      R"({"__metadata__":{"format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},)"
      R"("b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("c":{"dtype":"BF16","shape":[3],"data_offsets":[32,38]}})";
  ASSERT_EQ(json.size(), 199u);
  std::string want = le64(200) + json + " ";
  want += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x07\0\0\0\0\0\0\0", 16);
  want += std::string("\0\0\x80\x3f\0\0\0\x40\0\0\x40\x40\0\0\x80\x40", 16);
  want += std::string("\x80\x3f\x00\xc0\x00\x3f", 6);
  EXPECT_EQ(read_file(at("ref.safetensors")), want);

  // And the reader takes a hand-built file laid out differently (unpadded header, gaps).
  std::string other = R"({"c":{"dtype":"BOOL","shape":[2],"data_offsets":[10,12]},)"
                      R"("s":{"dtype":"I32","shape":[],"data_offsets":[4,8]}})";
  std::string data("\0\0\0\0\xfe\xff\xff\xff\0\0\x01\0", 12);
  std::string file = raw_file(other, data);
  SafetensorsFile f = SafetensorsFile::from_bytes("hand", file.data(), file.size());
  EXPECT_EQ(f.names(), std::vector<std::string>({"c", "s"}));
  EXPECT_EQ(f.info("c").dtype, DType::U8);
  EXPECT_EQ(f.info("c").file_dtype, "BOOL");
  EXPECT_TRUE(test::all_close(f.get("c"), {1, 0}, 0, 0));
  EXPECT_EQ(f.get("s").item(), -2.0);
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(Safetensors, AcceptsEmptyHeaderAndTrailingData) {
  std::string bytes = raw_file("{}   ", "trailing");
  SafetensorsFile f = SafetensorsFile::from_bytes("empty", bytes.data(), bytes.size());
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_ERROR(f.get("x"), "no tensor 'x' in empty");
}

TEST_F(Safetensors, RejectsMalformedFiles) {
  auto entry = [](const std::string& body) { return raw_file(R"({"t":)" + body + "}", std::string(64, '\0')); };
  expect_rejected("", "shorter than the 8-byte header length");
  expect_rejected("\x05\0\0\0\0\0\0", "shorter than the 8-byte header length");
  expect_rejected(le64(200'000'001) + "{}", "exceeds the 100000000-byte limit");
  expect_rejected(le64(~uint64_t(0)) + "{}", "exceeds the 100000000-byte limit");
  expect_rejected(le64(50) + "{}", "exceeds the file size");
  expect_rejected(raw_file(""), "not valid JSON");
  expect_rejected(raw_file("{abc"), "not valid JSON");
  expect_rejected(raw_file("{\"a\xff\":1}"), "not valid JSON");
  expect_rejected(raw_file(std::string("{}\0\0", 4)), "not valid JSON: NUL byte at offset 2");
  expect_rejected(raw_file(std::string("{}\0xyz", 6)), "not valid JSON: NUL byte");
  expect_rejected(raw_file("{} x"), "not valid JSON");
  expect_rejected(raw_file("[1,2]"), "header is not a JSON object");
  expect_rejected(raw_file(std::string(100, '[') + std::string(100, ']')), "nested deeper than 64 levels");
  expect_rejected(entry("5"), "tensor 't': entry is not a JSON object");
  expect_rejected(entry(R"({"shape":[1],"data_offsets":[0,4]})"), "tensor 't': entry is missing 'dtype'");
  expect_rejected(entry(R"({"dtype":"F32","data_offsets":[0,4]})"), "entry is missing 'shape'");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1]})"), "entry is missing 'data_offsets'");
  expect_rejected(entry(R"({"dtype":5,"shape":[1],"data_offsets":[0,4]})"), "'dtype' is not a string");
  expect_rejected(entry(R"({"dtype":"F32","shape":"1","data_offsets":[0,4]})"), "'shape' is not an array");
  expect_rejected(entry(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), "negative dimension -1");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), "dimension 1.5 is not an integer");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})"), "is not an integer");
  expect_rejected(entry(R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})"), "is not an integer");
  expect_rejected(entry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"),
                  "element count overflows");
  expect_rejected(entry(R"({"dtype":"U8","shape":[0,9223372036854775807,2],"data_offsets":[0,0]})"),
                  "element count overflows");
  expect_rejected(entry(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})"), "overflows");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), "'data_offsets' is not [begin, end]");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), "is not [begin, end]");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), "is not [begin, end]");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0.0,4]})"), "is not [begin, end]");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":{"a":1}})"), "is not [begin, end]");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), "have begin > end");
  expect_rejected(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[64,68]})"), "reach past the data region (64 bytes)");
  expect_rejected(entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
                  "byte length 8 does not match shape [3] x F32 (12 bytes)");
  expect_rejected(entry(R"({"dtype":"Q4","shape":[1],"data_offsets":[0,4]})"), "unknown dtype 'Q4'");
  expect_rejected(entry(R"({"dtype":"I8","shape":[4],"data_offsets":[0,4]})"), "unknown dtype 'I8'");
  expect_rejected(entry(R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})"), "unknown dtype 'f32'");
  expect_rejected(entry(R"({"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]})"), "duplicate key 'dtype'");
  expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           std::string(8, '\0')),
                  "duplicate tensor name 'a'");
  expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                           std::string(12, '\0')),
                  "tensor 'b' bytes [4, 12) overlap tensor 'a' bytes [0, 8)");
  expect_rejected(raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                           R"("z":{"dtype":"F32","shape":[],"data_offsets":[12,16]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           std::string(16, '\0')),
                  "overlap tensor 'a'");
  expect_rejected(raw_file(R"({"__metadata__":{"n":1}})"), "'__metadata__' value for 'n' is not a string");
  expect_rejected(raw_file(R"({"__metadata__":[]})"), "'__metadata__' is not an object of strings");
  expect_rejected(raw_file("{\"a\\nb\":5}"), "tensor 'a\\x0ab': entry is not a JSON object");
}

TEST_F(Safetensors, OpenErrorsNameTheFile) {
  EXPECT_ERROR(SafetensorsFile::open(at("missing.safetensors")), "missing.safetensors: cannot open");
  EXPECT_ERROR(SafetensorsFile::open(dir_), "not a regular file");
  save_safetensors(at("ok.safetensors"), {{"a", Tensor::zeros({2})}});
  EXPECT_ERROR(SafetensorsFile::open(at("ok.safetensors")).get("x"), "no tensor 'x' in " + at("ok.safetensors"));
  EXPECT_ERROR(SafetensorsFile::open(at("ok.safetensors")).info("y"), "no tensor 'y'");
}

TEST_F(Safetensors, WriterRejectsBadInput) {
  std::string path = at("bad.safetensors");
  EXPECT_ERROR(save_safetensors(path, {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({2})}}),
               "duplicate tensor name 'a'");
  EXPECT_ERROR(save_safetensors(path, {{"a", Tensor()}}), "tensor 'a' is undefined");
  EXPECT_ERROR(save_safetensors(path, {{"__metadata__", Tensor::zeros({1})}}), "'__metadata__' is reserved");
  EXPECT_ERROR(save_safetensors(path, {{"bad\xff", Tensor::zeros({1})}}), "valid UTF-8");
  EXPECT_FALSE(fs::exists(path));
}

// A tensor whose bytes claim to be on a GPU: reading it throws in a build without one, and in any
// build its bogus pointer never gets dereferenced on the host.
Tensor unreadable_tensor() {
  auto impl = std::make_shared<TensorImpl>();
  static float dummy[4];
  impl->storage = Storage::borrow(dummy, sizeof dummy, Device::gpu(0), nullptr);
  impl->shape = {4};
  impl->strides = {1};
  return Tensor(impl);
}

TEST_F(Safetensors, FailedWritesLeaveThePreviousFile) {
  std::string path = at("keep.safetensors");
  Tensor old = sample(DType::F32, {5, 3}, 1);
  save_safetensors(path, {{"old", old}});
  std::string before = read_file(path);
  auto untouched = [&] {
    EXPECT_EQ(read_file(path), before);
    for (const auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  };

  // A tensor that throws after the header and a large tensor have been written.
  if (!gpu_compiled()) {
    EXPECT_ERROR(save_safetensors(path, {{"big", Tensor::zeros({1 << 16})}, {"gpu", unreadable_tensor()}}),
                 "tensor 'gpu'");
    untouched();
  }

  // The temp file cannot be created.
  std::string tmp = str(path, ".tmp.", ::getpid());
  fs::create_directory(tmp);
  EXPECT_ERROR(save_safetensors(path, {{"new", Tensor::zeros({4})}}), "cannot create " + tmp);
  fs::remove(tmp);
  EXPECT_EQ(read_file(path), before);

  // The disk fills up mid-way (a file size limit makes write() fail with EFBIG).
  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 1 << 16;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  try {
    save_safetensors(path, {{"huge", Tensor::zeros({1 << 18})}});
    ADD_FAILURE() << "write past RLIMIT_FSIZE succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("failed"), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, old_handler);
  untouched();

  // The destination directory does not exist.
  EXPECT_ERROR(save_safetensors(at("no/such/dir.safetensors"), {{"a", Tensor::zeros({1})}}), "cannot create");

  // And a successful write replaces the file.
  save_safetensors(path, {{"new", Tensor::ones({2})}});
  EXPECT_EQ(SafetensorsFile::open(path).names(), std::vector<std::string>{"new"});
}

NamedTensors model_tensors() {
  return {{"embed", sample(DType::BF16, {13, 7}, 1)},     // 182 bytes
          {"layers.0.w", sample(DType::F32, {5, 7}, 2)},  // 140
          {"layers.0.b", sample(DType::F32, {5}, 3)},     // 20
          {"layers.1.w", test::noncontig(sample(DType::F16, {67}, 4))},
          {"steps", Tensor::arange(3, DType::I64)},
          {"empty", Tensor::empty({0}, DType::F32)}};
}

TEST_F(Safetensors, ShardedRoundTrip) {
  NamedTensors in = model_tensors();
  std::string d = at("model");
  save_sharded(d, in, 200, {{"format", "pt"}});
  // 182 | 140+20 | 134+24+0 -> three shards.
  for (const char* f : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                        "model-00003-of-00003.safetensors", "model.safetensors.index.json"})
    EXPECT_TRUE(fs::exists(d + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(d + "/model.safetensors"));

  Checkpoint c = Checkpoint::open(d);
  EXPECT_EQ(c.num_files(), 3u);
  EXPECT_EQ(c.names(), std::vector<std::string>({"embed", "empty", "layers.0.b", "layers.0.w", "layers.1.w", "steps"}));
  EXPECT_EQ(c.metadata().at("total_size"), "500");
  EXPECT_EQ(c.metadata().at("format"), "pt");
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(bit_equal(c.get(name), t));
    EXPECT_EQ(c.info(name).shape, t.shape());
  }
  EXPECT_EQ(c.file_of("embed"), d + "/model-00001-of-00003.safetensors");
  EXPECT_EQ(c.file_of("layers.0.b"), d + "/model-00002-of-00003.safetensors");
  EXPECT_EQ(c.file_of("steps"), d + "/model-00003-of-00003.safetensors");
  EXPECT_TRUE(test::all_close(c.get("embed", DType::F32), in[0].second.to_double(), 0, 0));
  EXPECT_TRUE(c.has("steps"));
  EXPECT_FALSE(c.has("nope"));
  EXPECT_ERROR(c.get("nope"), "no tensor 'nope' in " + d);

  // Saving again with room for everything switches to one file and clears the shards.
  save_sharded(d, in, 1 << 20);
  EXPECT_FALSE(fs::exists(d + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(d + "/model-00001-of-00003.safetensors"));
  Checkpoint one = Checkpoint::open(d);
  EXPECT_EQ(one.num_files(), 1u);
  EXPECT_EQ(one.file_of("steps"), d + "/model.safetensors");
  for (const auto& [name, t] : in) EXPECT_TRUE(bit_equal(one.get(name), t)) << name;
  EXPECT_TRUE(bit_equal(Checkpoint::open(d + "/model.safetensors").get("embed"), in[0].second));

  // A tensor larger than the limit gets a shard of its own.
  save_sharded(d, in, 1);
  EXPECT_EQ(Checkpoint::open(d).num_files(), in.size());
  EXPECT_FALSE(fs::exists(d + "/model.safetensors"));

  EXPECT_ERROR(save_sharded(d, in, 0), "max_shard_bytes must be positive");
  EXPECT_ERROR(Checkpoint::open(at("nothing")), "does not exist");
  fs::create_directory(at("emptydir"));
  EXPECT_ERROR(Checkpoint::open(at("emptydir")), "has neither model.safetensors nor model.safetensors.index.json");
}

TEST_F(Safetensors, ValidatesTheShardIndex) {
  std::string d = at("ck");
  fs::create_directory(d);
  save_safetensors(d + "/a.safetensors", {{"x", Tensor::zeros({2})}, {"y", Tensor::ones({3})}});
  save_safetensors(d + "/b.safetensors", {{"z", Tensor::zeros({1})}});
  std::string index = d + "/model.safetensors.index.json";
  auto with_index = [&](const std::string& json, const std::string& phrase) {
    write_file(index, json);
    try {
      Checkpoint::open(d);
      ADD_FAILURE() << "accepted index " << json;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(index), std::string::npos) << msg;
      EXPECT_NE(msg.find(phrase), std::string::npos) << "'" << msg << "' lacks '" << phrase << "'";
    }
  };
  write_file(index, R"({"metadata":{"total_size":24},"weight_map":{"x":"a.safetensors","z":"b.safetensors"}})");
  Checkpoint ok = Checkpoint::open(d);
  EXPECT_EQ(ok.names(), std::vector<std::string>({"x", "z"}));  // y is in a shard but not in the map
  EXPECT_EQ(ok.file_of("z"), d + "/b.safetensors");

  with_index(R"({"weight_map":{"x":"a.safetensors","w":"c.safetensors"}})",
             "tensor 'w' is mapped to 'c.safetensors', which does not exist");
  with_index(R"({"weight_map":{"x":"a.safetensors","w":"b.safetensors"}})", "b.safetensors, which does not hold it");
  with_index(R"({"weight_map":{"x":"../a.safetensors"}})", "is not a plain file name");
  with_index(R"({"weight_map":{"x":"a.safetensors","x":"b.safetensors"}})", "duplicate key 'x'");
  with_index(R"({"metadata":{}})", "'weight_map' is missing or not an object");
  with_index(R"({"weight_map":{"x":3}})", "weight_map entry for 'x' is not a string");
  with_index(R"({"metadata":5,"weight_map":{}})", "'metadata' is not an object");
  with_index(R"({"weight_map":)", "not valid JSON");
  with_index("[]", "not a JSON object");
  save_safetensors(d + "/b.safetensors", {{"z", Tensor::zeros({1})}, {"x", Tensor::zeros({1})}});
  with_index(R"({"weight_map":{"x":"a.safetensors","z":"b.safetensors"}})", "tensor 'x' is in both");
  write_file(d + "/b.safetensors", "garbage");
  try {
    write_file(index, R"({"weight_map":{"z":"b.safetensors"}})");
    Checkpoint::open(d);
    ADD_FAILURE() << "accepted a corrupt shard";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(d + "/b.safetensors: file is 7 bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace zebra
