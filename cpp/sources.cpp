// Sources the host serves in pieces (sources.h), read by lua_load. Public API only.
#include "sources.h"

#include <string.h>

#include "bytes.h"
#include "channel.h"

namespace lh {

struct SourceReader {
  uint32_t source;
  uint32_t offset = 0;
  Bytes piece;
  explicit SourceReader(lua_State* L, uint32_t s) : source(s), piece(L) {}
};

static const char* read_source(lua_State* L, void* ud, size_t* size) {
  SourceReader* r = static_cast<SourceReader*>(ud);
  Bytes request(L);
  request.push(kOpSource);
  request.put_u32(r->source);
  request.put_u32(r->offset);
  Answer a = channel_request(L, request, r->piece);
  if (a.status != kStatusOk) luaL_error(L, "the host did not serve source %I", (lua_Integer)r->source);
  if (a.data != r->piece.data()) {  // in the scratch buffer: keep it across the next request
    r->piece.clear();
    r->piece.append(a.data, a.len);
    a.data = r->piece.data();
  }
  r->offset += a.len;
  *size = a.len;
  return reinterpret_cast<const char*>(a.data);
}

int load_source(lua_State* L, uint32_t source, const char* chunkname) {
  SourceReader reader(L, source);
  return lua_load(L, read_source, &reader, chunkname, "t");
}

// luaL_dostring's chunk name for code served in pieces: its first piece's prefix, as for code in
// memory (load_chunk).
int load_served_code(lua_State* L, uint32_t source, bool named) {
  SourceReader reader(L, source);
  size_t first_len;
  const char* first = read_source(L, &reader, &first_len);
  char name[LUA_IDSIZE + 8];
  if (named) {
    const char* end = static_cast<const char*>(memchr(first, 0, first_len));
    if (!end) luaL_error(L, "a named chunk without its name");
    size_t n = size_t(end - first);
    size_t keep = n < sizeof name - 1 ? n : sizeof name - 1;
    memcpy(name, first, keep);
    name[keep] = '\0';
    first_len -= n + 1;
    first = end + 1;
  } else {
    size_t name_len = first_len < sizeof name - 1 ? first_len : sizeof name - 1;
    memcpy(name, first, name_len);
    name[name_len] = '\0';
  }
  struct Replay {
    SourceReader* reader;
    const char* first;
    size_t first_len;
  } replay{&reader, first, first_len};
  return lua_load(L, [](lua_State* L, void* ud, size_t* size) -> const char* {
    Replay* r = static_cast<Replay*>(ud);
    if (r->first) {
      const char* p = r->first;
      *size = r->first_len;
      r->first = nullptr;
      return p;
    }
    return read_source(L, r->reader, size);
  }, &replay, name, "t");
}


}  // namespace lh
