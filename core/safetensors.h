// safetensors I/O: an mmap reader that validates the whole header before any data is touched and
// hands out zero-copy tensors, an atomic writer, and Hugging Face checkpoints (one
// model.safetensors, or model.safetensors.index.json + shards). docs/formats.md lists what is
// accepted and rejected.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace zebra {

using Metadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Where one tensor lives in a file; known from the header alone.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::string file_dtype;       // as spelled in the header ("BOOL" is read as u8)
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data region
  uint64_t nbytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  // mmaps `path` (privately: writes through zero-copy tensors never reach the file) and validates
  // it; every defect is an Error naming the file, and the tensor where there is one.
  static SafetensorsFile open(const std::string& path);
  // Parses a private copy of `size` bytes as if they were the file `name` (fuzzer, tests).
  static SafetensorsFile from_bytes(const std::string& name, const void* data, size_t size);

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // header order
  std::vector<std::string> names() const;                              // header order
  bool has(const std::string& name) const { return by_name_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // Error "no tensor 'x' in FILE"
  const Metadata& metadata() const { return metadata_; }  // "__metadata__"
  uint64_t data_start() const { return data_start_; }     // 8 + header length
  const uint8_t* bytes() const;                           // the whole file
  size_t size() const;

  // The tensor, converted to `want` when given. Without a conversion and with bytes aligned for the
  // dtype, the result borrows the mapping (and keeps it alive): in-place writes to it are seen by
  // later get() calls on this file object. Otherwise it is an owned, contiguous copy.
  Tensor get(const std::string& name, std::optional<DType> want = std::nullopt) const;

 private:
  struct Bytes;
  SafetensorsFile(std::string path, std::shared_ptr<Bytes> bytes);
  void parse();

  std::string path_;
  std::shared_ptr<Bytes> bytes_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
  Metadata metadata_;
  uint64_t data_start_ = 0;
};

// Writes `tensors` (header in the given order; any dtype, layout or device) with `metadata` as
// "__metadata__". The header is space-padded to a multiple of 8 and the data ordered by element
// size, so every tensor is aligned for zero-copy reads. Goes through `path.tmp.<pid>` + fsync +
// rename + directory fsync: on any failure the previous `path` is untouched.
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

// A Hugging Face checkpoint: a .safetensors file, or a directory holding
// model.safetensors.index.json (preferred) or model.safetensors. Opening validates every shard and
// that each tensor of the weight map is in its shard and in no other.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  Tensor get(const std::string& name, std::optional<DType> want = std::nullopt) const;
  const std::string& file_of(const std::string& name) const;  // path of the file holding it
  // The index's "metadata" (non-string values as JSON text, e.g. total_size) or the file's.
  const Metadata& metadata() const { return metadata_; }
  size_t num_files() const { return files_.size(); }

 private:
  const SafetensorsFile& file_for(const std::string& name) const;
  std::string path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> files_ index
  Metadata metadata_;
};

// Writes `tensors` into `dir` (created if needed) as model.safetensors when their data fits in
// `max_shard_bytes`, else as model-0000k-of-0000N.safetensors shards filled in order (a tensor
// larger than the limit gets a shard of its own) plus model.safetensors.index.json, written last.
// Each file is replaced atomically; files of the other layout or a stale shard count are removed
// afterwards. For an all-or-nothing checkpoint, save into a fresh directory and rename it.
void save_sharded(const std::string& dir, const NamedTensors& tensors, uint64_t max_shard_bytes,
                  const Metadata& metadata = {});

}  // namespace zebra
