#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/threadpool.h"

namespace zebra {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

// The reference implementation's bound: a larger length field means a corrupt or foreign file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxJsonDepth = 64;
constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

std::string errno_text() { return std::system_category().message(errno); }

// Names come from untrusted files: keep messages on one line and of bounded length. (Not called
// `quoted`: ADL would pick std::quoted for std::string arguments.)
std::string quote_name(std::string_view s) {
  std::string r = "'";
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      r += b;
    } else {
      r += char(c);
    }
  }
  return r + (s.size() > 200 ? "...'" : "'");
}

// nlohmann keeps the last of duplicate keys without a word; the parser callback sees each key
// first. `what` prefixes every message ("safetensors: FILE: header").
OJson parse_strict(std::string_view text, const std::string& what, bool top_keys_are_tensors) {
  std::vector<std::unordered_set<std::string>> open_objects;
  auto check = [&](int depth, OJson::parse_event_t ev, OJson& parsed) {
    using E = OJson::parse_event_t;
    if ((ev == E::object_start || ev == E::array_start) && depth >= kMaxJsonDepth)
      fail(what, " is nested deeper than ", kMaxJsonDepth, " levels");
    if (ev == E::object_start) {
      open_objects.emplace_back();
    } else if (ev == E::object_end) {
      open_objects.pop_back();
    } else if (ev == E::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) {
        bool tensor = top_keys_are_tensors && open_objects.size() == 1 && key != "__metadata__";
        fail(what, tensor ? " has a duplicate tensor name " : " has a duplicate key ", quote_name(key));
      }
    }
    return true;
  };
  // nlohmann stops at a NUL as if the input ended there, which would hide trailing garbage.
  if (size_t nul = text.find('\0'); nul != text.npos) fail(what, " is not valid JSON: NUL byte at offset ", nul);
  try {
    return OJson::parse(text.begin(), text.end(), check);
  } catch (const OJson::exception& e) {
    fail(what, " is not valid JSON: ", e.what());
  }
}

struct DTypeSpelling {
  const char* file;
  DType dtype;
};
// BOOL is stored one byte per element, as u8; zebra writes u8 back as U8.
constexpr DTypeSpelling kSpellings[] = {{"F32", DType::F32}, {"BF16", DType::BF16}, {"F16", DType::F16},
                                        {"I32", DType::I32}, {"I64", DType::I64},   {"F64", DType::F64},
                                        {"U8", DType::U8},   {"BOOL", DType::U8}};
// Valid safetensors dtypes that zebra has no element type for.
constexpr const char* kUnsupported[] = {"I8",      "I16",     "U16",     "U32",     "U64", "F8_E4M3",
                                        "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",  "C64"};

const char* file_dtype_name(DType t) {
  for (const auto& s : kSpellings)
    if (s.dtype == t) return s.file;
  fail("safetensors: no file spelling for dtype ", dtype_name(t));
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

[[noreturn]] void too_short(const std::string& path, uint64_t size) {
  fail("safetensors: ", path, ": file is ", size, " bytes, shorter than the 8-byte header length");
}

// Reads one header entry; `bad` prefixes "safetensors: FILE: tensor 'x': ".
TensorInfo parse_entry(const std::string& file, const std::string& name, const OJson& v, uint64_t data_bytes) {
  auto bad = [&](auto&&... args) {
    fail("safetensors: ", file, ": tensor ", quote_name(name), ": ", std::forward<decltype(args)>(args)...);
  };
  if (!v.is_object()) bad("entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) bad("entry is missing '", key, "'");
  TensorInfo t;
  t.name = name;

  const OJson& dt = v.at("dtype");
  if (!dt.is_string()) bad("'dtype' is not a string");
  t.file_dtype = dt.get<std::string>();
  auto known = std::find_if(std::begin(kSpellings), std::end(kSpellings),
                            [&](const DTypeSpelling& s) { return t.file_dtype == s.file; });
  if (known == std::end(kSpellings)) {
    bool valid = std::find(std::begin(kUnsupported), std::end(kUnsupported), t.file_dtype) != std::end(kUnsupported);
    bad("unknown dtype ", quote_name(t.file_dtype), valid ? " (a safetensors dtype zebra does not support)" : "");
  }
  t.dtype = known->dtype;

  const OJson& shape = v.at("shape");
  if (!shape.is_array()) bad("'shape' is not an array");
  int64_t n = 1;
  for (const OJson& d : shape) {
    // nlohmann parses non-negative integer literals as unsigned and negative ones as signed.
    if (d.is_number_integer() && !d.is_number_unsigned()) bad("'shape' has a negative dimension ", d.dump());
    if (!d.is_number_unsigned()) bad("'shape' dimension ", d.dump(), " is not an integer");
    uint64_t u = d.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) bad("'shape' dimension ", u, " overflows the element count");
    t.shape.push_back(int64_t(u));
  }
  // Zero dimensions count as 1 here: strides must fit in int64 even when the tensor is empty.
  int64_t span = int64_t(dtype_size(t.dtype));
  for (int64_t d : t.shape) {
    if (__builtin_mul_overflow(span, std::max<int64_t>(d, 1), &span))
      bad("shape ", shape_str(t.shape), " element count overflows");
    n *= d;
  }
  uint64_t want_bytes = uint64_t(n) * dtype_size(t.dtype);

  const OJson& off = v.at("data_offsets");
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad("'data_offsets' is not [begin, end] with non-negative integers: ", off.dump().substr(0, 100));
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  if (t.begin > t.end) bad("data_offsets [", t.begin, ", ", t.end, "] have begin > end");
  if (t.end > data_bytes)
    bad("data_offsets [", t.begin, ", ", t.end, "] reach past the data region (", data_bytes, " bytes)");
  if (t.nbytes() != want_bytes)
    bad("byte length ", t.nbytes(), " does not match shape ", shape_str(t.shape), " x ", t.file_dtype, " (",
        want_bytes, " bytes)");
  return t;
}

// Appends to a file descriptor; every short write becomes an Error naming `path`.
struct FileSink {
  int fd;
  const std::string& path;
  void write(const void* data, size_t n) {
    auto p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail("write ", path, " failed: ", w < 0 ? errno_text() : "no progress");
      p += w;
      n -= size_t(w);
    }
  }
};

void fsync_dir(const std::string& dir, const std::string& what) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(what, ": cannot open directory ", dir, " to fsync it: ", errno_text());
  int rc = ::fsync(fd);
  std::string err = rc != 0 ? errno_text() : "";
  ::close(fd);
  if (rc != 0) fail(what, ": fsync of directory ", dir, " failed: ", err);
}

// Writes `path` through `path.tmp.<pid>`: `fill` writes the bytes, then fsync, rename, and a
// directory fsync make the new file durable. Before the rename any failure unlinks the temp file
// and leaves `path` as it was. Errors are prefixed with `what`.
void write_atomically(const std::string& path, const std::string& what, const std::function<void(FileSink&)>& fill) {
  std::string tmp = str(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) fail(what, ": cannot create ", tmp, ": ", errno_text());
  try {
    FileSink sink{fd, tmp};
    try {
      fill(sink);
    } catch (const Error& e) {
      fail(what, ": ", e.what());
    }
    if (::fsync(fd) != 0) fail(what, ": fsync ", tmp, " failed: ", errno_text());
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail(what, ": close ", tmp, " failed: ", errno_text());
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail(what, ": rename ", tmp, " to ", path, " failed: ", errno_text());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  std::string dir = fs::path(path).parent_path().string();
  fsync_dir(dir.empty() ? "." : dir, what);
}

void check_named(const NamedTensors& tensors, const std::string& what) {
  std::unordered_set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    ZCHECK(name != "__metadata__", what, ": the tensor name '__metadata__' is reserved");
    ZCHECK(seen.insert(name).second, what, ": duplicate tensor name ", quote_name(name));
    ZCHECK(t.defined(), what, ": tensor ", quote_name(name), " is undefined");
  }
}

bool is_shard_name(const std::string& s) {
  // model-00001-of-00002.safetensors
  auto digits = [&](size_t at) {
    return std::all_of(s.begin() + long(at), s.begin() + long(at) + 5, [](char c) { return c >= '0' && c <= '9'; });
  };
  return s.size() == 32 && s.compare(0, 6, "model-") == 0 && digits(6) && s.compare(11, 4, "-of-") == 0 &&
         digits(15) && s.compare(20, 12, ".safetensors") == 0;
}

std::string shard_name(size_t k, size_t n) {
  char b[64];
  std::snprintf(b, sizeof b, "model-%05zu-of-%05zu.safetensors", k, n);
  return b;
}

std::string read_small_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(what, ": cannot read: ", ec.message());
  if (size > kMaxHeaderBytes) fail(what, ": file is ", size, " bytes, over the ", kMaxHeaderBytes, "-byte limit");
  std::ifstream in(path, std::ios::binary);
  std::string text(size_t(size), '\0');
  if (!in.read(text.data(), std::streamsize(size))) fail(what, ": cannot read: ", errno_text());
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reader

struct SafetensorsFile::Bytes {
  uint8_t* data = nullptr;
  size_t size = 0;
  bool mapped = false;
  Bytes() = default;
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;
  ~Bytes() {
    if (mapped)
      ::munmap(data, size);
    else
      delete[] data;
  }
};

SafetensorsFile::SafetensorsFile(std::string path, std::shared_ptr<Bytes> bytes)
    : path_(std::move(path)), bytes_(std::move(bytes)) {
  parse();
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("safetensors: ", path, ": cannot open: ", errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("safetensors: ", path, ": not a regular file");
  }
  if (st.st_size < 8) {
    ::close(fd);
    too_short(path, uint64_t(st.st_size));
  }
  // Private and writable: zero-copy tensors may be written in place without touching the file
  // or faulting.
  void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  std::string err = p == MAP_FAILED ? errno_text() : "";
  ::close(fd);
  if (p == MAP_FAILED) fail("safetensors: ", path, ": mmap failed: ", err);
  auto bytes = std::make_shared<Bytes>();
  bytes->data = static_cast<uint8_t*>(p);
  bytes->size = size_t(st.st_size);
  bytes->mapped = true;
  return SafetensorsFile(path, std::move(bytes));
}

SafetensorsFile SafetensorsFile::from_bytes(const std::string& name, const void* data, size_t size) {
  auto bytes = std::make_shared<Bytes>();
  // Exactly `size` bytes, so that AddressSanitizer sees any read past the end.
  bytes->data = new uint8_t[size];
  bytes->size = size;
  if (size) std::memcpy(bytes->data, data, size);
  return SafetensorsFile(name, std::move(bytes));
}

const uint8_t* SafetensorsFile::bytes() const { return bytes_->data; }
size_t SafetensorsFile::size() const { return bytes_->size; }

void SafetensorsFile::parse() {
  const std::string& f = path_;
  uint64_t size = bytes_->size;
  if (size < 8) too_short(f, size);
  uint64_t n = read_le64(bytes_->data);
  if (n > kMaxHeaderBytes)
    fail("safetensors: ", f, ": header length ", n, " exceeds the ", kMaxHeaderBytes,
         "-byte limit (corrupt or not a safetensors file)");
  if (n > size - 8) fail("safetensors: ", f, ": header length ", n, " exceeds the file size (", size, " bytes)");
  data_start_ = 8 + n;
  uint64_t data_bytes = size - data_start_;

  std::string_view text(reinterpret_cast<const char*>(bytes_->data + 8), size_t(n));
  OJson header = parse_strict(text, str("safetensors: ", f, ": header"), true);
  if (!header.is_object()) fail("safetensors: ", f, ": header is not a JSON object");
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail("safetensors: ", f, ": '__metadata__' is not an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          fail("safetensors: ", f, ": '__metadata__' value for ", quote_name(mk), " is not a string");
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    by_name_[key] = tensors_.size();
    tensors_.push_back(parse_entry(f, key, value, data_bytes));
  }

  // Overlaps: with ranges sorted by begin, a range overlaps an earlier one iff it starts before
  // the furthest end seen so far. Empty ranges hold no bytes and overlap nothing.
  std::vector<size_t> order;
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].nbytes() > 0) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].begin < tensors_[b].begin; });
  const TensorInfo* reach = nullptr;
  for (size_t i : order) {
    const TensorInfo& t = tensors_[i];
    if (reach && t.begin < reach->end)
      fail("safetensors: ", f, ": tensor ", quote_name(t.name), " bytes [", t.begin, ", ", t.end, ") overlap tensor ",
           quote_name(reach->name), " bytes [", reach->begin, ", ", reach->end, ")");
    if (!reach || t.end > reach->end) reach = &t;
  }
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> r;
  for (const auto& t : tensors_) r.push_back(t.name);
  return r;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) fail("safetensors: no tensor ", quote_name(name), " in ", path_);
  return tensors_[it->second];
}

Tensor SafetensorsFile::get(const std::string& name, std::optional<DType> want) const {
  const TensorInfo& t = info(name);
  DType out = want.value_or(t.dtype);
  int64_t n = numel(t.shape);
  if (n == 0) return Tensor::empty(t.shape, out);
  uint8_t* src = bytes_->data + data_start_ + t.begin;
  size_t es = dtype_size(t.dtype);
  if (reinterpret_cast<uintptr_t>(src) % es != 0) {
    // Typed loads from a misaligned address are undefined: stage the bytes first.
    Tensor staged = Tensor::empty(t.shape, t.dtype);
    std::memcpy(staged.raw_data(), src, t.nbytes());
    return staged.to(out);
  }
  if (out == t.dtype) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = Storage::borrow(src, t.nbytes(), Device::cpu(), bytes_);
    impl->shape = t.shape;
    impl->strides = contiguous_strides(t.shape);
    impl->dtype = t.dtype;
    return Tensor(impl);
  }
  Tensor r = Tensor::empty(t.shape, out);
  uint8_t* dst = static_cast<uint8_t*>(r.raw_data());
  size_t os = dtype_size(out);
  DType st = t.dtype;
  parallel_for(0, n, 1 << 16, [&](int64_t a, int64_t b) {
    convert_elements(src + size_t(a) * es, st, dst + size_t(a) * os, out, b - a);
  });
  return r;
}

// ---------------------------------------------------------------------------------------------
// Writer

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::string what = str("save_safetensors: ", path);
  check_named(tensors, what);

  // Larger elements first: with the data region starting 8-aligned, every tensor then starts at a
  // multiple of its element size without padding (the reference writer does the same).
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });
  std::vector<uint64_t> begin(tensors.size());
  uint64_t at = 0;
  for (size_t i : order) {
    begin[i] = at;
    at += tensors[i].second.nbytes();
  }

  OJson header = OJson::object();
  if (!metadata.empty()) {
    OJson m = OJson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    OJson entry = OJson::object();
    entry["dtype"] = file_dtype_name(t.dtype());
    entry["shape"] = t.shape();
    entry["data_offsets"] = {begin[i], begin[i] + t.nbytes()};
    header[tensors[i].first] = std::move(entry);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const OJson::exception&) {
    fail(what, ": tensor names and metadata must be valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  write_atomically(path, what, [&](FileSink& out) {
    out.write(le64(text.size()).data(), 8);
    out.write(text.data(), text.size());
    for (size_t i : order) {
      const auto& [name, t] = tensors[i];
      Tensor host;
      try {
        host = t.to(Device::cpu()).contiguous();
      } catch (const Error& e) {
        fail("tensor ", quote_name(name), ": ", e.what());
      }
      out.write(host.raw_data(), host.nbytes());
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.path_ = path;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) fail("checkpoint: ", path, " does not exist");

  std::string single = path;
  if (fs::is_directory(st)) {
    fs::path index = fs::path(path) / kIndexName;
    single = (fs::path(path) / kSingleName).string();
    if (!fs::exists(index, ec)) {
      if (!fs::exists(single, ec))
        fail("checkpoint: ", path, ": directory has neither ", kSingleName, " nor ", kIndexName);
    } else {
      std::string what = str("checkpoint: ", index.string());
      OJson j = parse_strict(read_small_file(index.string(), what), what, false);
      if (!j.is_object()) fail(what, ": not a JSON object");
      if (j.contains("metadata")) {
        if (!j["metadata"].is_object()) fail(what, ": 'metadata' is not an object");
        for (const auto& [k, v] : j["metadata"].items()) c.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      if (!j.contains("weight_map") || !j["weight_map"].is_object())
        fail(what, ": 'weight_map' is missing or not an object");
      std::map<std::string, size_t> file_index;  // shard file name -> files_ index
      std::vector<std::pair<std::string, size_t>> mapped;
      for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string()) fail(what, ": weight_map entry for ", quote_name(name), " is not a string");
        std::string fname = file.get<std::string>();
        if (fname.empty() || fname.find('/') != std::string::npos || fname == "." || fname == "..")
          fail(what, ": shard ", quote_name(fname), " for tensor ", quote_name(name), " is not a plain file name");
        auto [it, fresh] = file_index.emplace(fname, c.files_.size());
        if (fresh) {
          fs::path shard = fs::path(path) / fname;
          if (!fs::is_regular_file(shard, ec))
            fail(what, ": tensor ", quote_name(name), " is mapped to ", quote_name(fname), ", which does not exist");
          c.files_.push_back(SafetensorsFile::open(shard.string()));
        }
        mapped.emplace_back(name, it->second);
      }
      std::map<std::string, size_t> holder;
      for (size_t i = 0; i < c.files_.size(); ++i)
        for (const auto& t : c.files_[i].tensors()) {
          auto [it, fresh] = holder.emplace(t.name, i);
          if (!fresh)
            fail(what, ": tensor ", quote_name(t.name), " is in both ", c.files_[it->second].path(), " and ",
                 c.files_[i].path());
        }
      for (const auto& [name, i] : mapped) {
        if (!c.files_[i].has(name))
          fail(what, ": tensor ", quote_name(name), " is mapped to ", c.files_[i].path(), ", which does not hold it");
        c.where_[name] = i;
      }
      return c;
    }
  }
  c.files_.push_back(SafetensorsFile::open(single));
  c.metadata_ = c.files_[0].metadata();
  for (const auto& t : c.files_[0].tensors()) c.where_[t.name] = 0;
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> r;
  for (const auto& [name, i] : where_) r.push_back(name);
  return r;
}

const SafetensorsFile& Checkpoint::file_for(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("checkpoint: no tensor ", quote_name(name), " in ", path_);
  return files_[it->second];
}

const TensorInfo& Checkpoint::info(const std::string& name) const { return file_for(name).info(name); }
Tensor Checkpoint::get(const std::string& name, std::optional<DType> want) const {
  return file_for(name).get(name, want);
}
const std::string& Checkpoint::file_of(const std::string& name) const { return file_for(name).path(); }

void save_sharded(const std::string& dir, const NamedTensors& tensors, uint64_t max_shard_bytes,
                  const Metadata& metadata) {
  std::string what = str("save_sharded: ", dir);
  ZCHECK(max_shard_bytes > 0, what, ": max_shard_bytes must be positive");
  check_named(tensors, what);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(what, ": cannot create the directory: ", ec.message());

  std::vector<NamedTensors> shards;
  uint64_t total = 0, in_shard = 0;
  for (const auto& nt : tensors) {
    uint64_t nb = nt.second.nbytes();
    if (shards.empty() || (in_shard + nb > max_shard_bytes && in_shard > 0)) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(nt);
    in_shard += nb;
    total += nb;
  }

  fs::path root(dir);
  std::set<std::string> keep;
  if (shards.size() <= 1) {
    save_safetensors((root / kSingleName).string(), tensors, metadata);
    keep.insert(kSingleName);
  } else {
    OJson index = OJson::object();
    index["metadata"] = OJson::object();
    for (const auto& [k, v] : metadata) index["metadata"][k] = v;
    index["metadata"]["total_size"] = total;
    std::map<std::string, std::string> weight_map;  // sorted, as the hub writes it
    for (size_t k = 0; k < shards.size(); ++k) {
      std::string name = shard_name(k + 1, shards.size());
      save_safetensors((root / name).string(), shards[k], metadata);
      for (const auto& nt : shards[k]) weight_map[nt.first] = name;
      keep.insert(name);
    }
    index["weight_map"] = weight_map;
    std::string text = index.dump(2) + "\n";
    write_atomically((root / kIndexName).string(), what, [&](FileSink& out) { out.write(text.data(), text.size()); });
    keep.insert(kIndexName);
  }

  // A stale index would shadow a new single file; stale files of either layout would mislead.
  for (const char* stale : {kIndexName, kSingleName})
    if (!keep.count(stale)) fs::remove(root / stale, ec);
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    if (is_shard_name(name) && !keep.count(name)) fs::remove(entry.path(), ec);
  }
}

}  // namespace zebra
