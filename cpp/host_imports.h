// The five functions lua.wasm imports from its host (module "env"): the external-table host.
// Their contract is in docs/ABI.md; keys and values are opaque bytes to the host.
#pragma once

#include <stdint.h>

#define LH_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

extern "C" {
LH_IMPORT(js_ext_table_set)
int32_t js_ext_table_set(uint32_t id, const uint8_t* key, uint32_t key_len, const uint8_t* val,
                         uint32_t val_len);
LH_IMPORT(js_ext_table_get)
int32_t js_ext_table_get(uint32_t id, const uint8_t* key, uint32_t key_len, uint8_t* val,
                         uint32_t max_len);
LH_IMPORT(js_ext_table_delete)
int32_t js_ext_table_delete(uint32_t id, const uint8_t* key, uint32_t key_len);
LH_IMPORT(js_ext_table_size)
uint32_t js_ext_table_size(uint32_t id);
LH_IMPORT(js_ext_table_keys)
int32_t js_ext_table_keys(uint32_t id, uint8_t* buf, uint32_t max_len);
}
