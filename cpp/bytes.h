// A growable byte buffer for encoding keys and values: inline storage for small ones, the
// heap for large ones, freed on every exit (Lua errors unwind as C++ exceptions).
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"

namespace lh {

class Bytes {
 public:
  explicit Bytes(lua_State* L) : L_(L), data_(inline_), len_(0), cap_(sizeof inline_) {}
  ~Bytes() {
    if (data_ != inline_) free(data_);
  }
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  uint32_t size() const { return len_; }
  void clear() { len_ = 0; }

  // Where the bytes go once `threshold` of them are waiting (results too large for the I/O
  // buffer go to the host in pieces): extend() first hands the bytes so far to the sink.
  using Sink = void (*)(lua_State* L, const uint8_t* p, uint32_t n);
  void set_sink(Sink sink, uint32_t threshold) {
    sink_ = sink;
    threshold_ = threshold;
  }
  bool has_sink() const { return sink_ != nullptr; }
  // Hands every byte so far to the sink.
  void drain() {
    if (sink_ && len_) sink_(L_, data_, len_);
    len_ = 0;
  }

  // Hands bytes to the sink without copying them here (after drain()).
  void send_direct(const uint8_t* p, uint32_t n) { sink_(L_, p, n); }

  // Makes room for n more bytes and returns where they go (size() grows by n).
  uint8_t* extend(uint32_t n) {
    if (sink_ && len_ && len_ + uint64_t(n) > threshold_) drain();
    if (n > cap_ - len_) grow(n);
    uint8_t* p = data_ + len_;
    len_ += n;
    return p;
  }
  void append(const void* p, uint32_t n) {
    if (n) memcpy(extend(n), p, n);
  }
  void push(uint8_t b) { *extend(1) = b; }
  void put_u32(uint32_t v) { append(&v, 4); }  // wasm is little-endian
  void put_u64(uint64_t v) { append(&v, 8); }
  void set_u32(uint32_t at, uint32_t v) { memcpy(data_ + at, &v, 4); }

 private:
  void grow(uint32_t n);

  lua_State* L_;
  uint8_t* data_;
  uint32_t len_, cap_;
  Sink sink_ = nullptr;
  uint32_t threshold_ = 0;
  uint8_t inline_[128];
};

}  // namespace lh
