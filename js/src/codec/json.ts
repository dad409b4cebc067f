// Lua values as JSON and back (lua-home serve), by the rule the README states in "Running
// lua-home as a service": plain JSON where JSON can say it, one-key `$` objects where it cannot.
import { LuaFloat, LuaFunction } from './codec.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON value that is no Lua value by the rule (an unknown `$` tag, a bad payload), or a Lua value JSON cannot hold. */
export class JsonValueError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'JsonValueError';
  }
}

/** How deeply tables may nest in JSON (either way): deeper is a JsonValueError. */
export const MAX_JSON_DEPTH = 200;

const base64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

function floatJSON(n: number): Json {
  if (Number.isNaN(n)) return { $float: 'nan' };
  if (n === Infinity) return { $float: 'inf' };
  if (n === -Infinity) return { $float: '-inf' };
  if (Object.is(n, -0)) return { $float: '-0' };
  return n;
}

/**
 * A value from Lua (a compute's result, `_home.toJS()`) as JSON: nil null; booleans, finite
 * numbers and UTF-8 strings as themselves; NaN, ±inf and -0 `{"$float": "nan" | "inf" | "-inf" | "-0"}`;
 * integers beyond ±(2^53-1) `{"$int": "decimal"}`; strings that are not UTF-8 `{"$bytes": base64}`;
 * functions `{"$function": base64 bytecode}`; tables as arrays (keys 1..n), objects (string keys
 * none of which starts with `$`), else `{"$map": [[key, value], ...]}`; a table met again inside
 * itself (a cycle) `{"$cycle": true}`.
 */
export function luaToJSON(value: unknown): Json {
  const path = new Set<object>();
  const convert = (v: unknown, depth: number): Json => {
    if (v === undefined || v === null) return null;
    if (typeof v === 'boolean' || typeof v === 'string') return v;
    if (typeof v === 'number') return floatJSON(v);
    if (typeof v === 'bigint') return { $int: v.toString() };
    if (v instanceof LuaFloat) return Number.isInteger(v.value) ? { $float: String(v.value) } : floatJSON(v.value);
    if (v instanceof Uint8Array) return { $bytes: base64(v) };
    if (v instanceof LuaFunction) return { $function: base64(v.bytes) };
    if (typeof v === 'object' && typeof (v as { toJS?: unknown }).toJS === 'function') return convert((v as { toJS(): unknown }).toJS(), depth);
    if (typeof v !== 'object') throw new JsonValueError(`a ${typeof v} has no JSON form`);
    if (path.has(v)) return { $cycle: true };
    if (depth >= MAX_JSON_DEPTH) throw new JsonValueError(`tables nested more than ${MAX_JSON_DEPTH} levels deep have no JSON form here`);
    path.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => convert(x, depth + 1));
      const pairs: [unknown, unknown][] = v instanceof Map ? [...v] : Object.entries(v);
      if (!(v instanceof Map) && pairs.every(([k]) => !(k as string).startsWith('$'))) {
        const out: { [key: string]: Json } = {};
        for (const [k, x] of pairs) Object.defineProperty(out, k as string, { value: convert(x, depth + 1), enumerable: true, writable: true, configurable: true });
        return out;
      }
      return { $map: pairs.map(([k, x]) => [convert(k, depth + 1), convert(x, depth + 1)]) };
    } finally {
      path.delete(v);
    }
  };
  return convert(value, 0);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A JSON value (a request's argument) as a value for Lua, by the same rule: `{"$int": "..."}` is
 * a 64-bit integer, `{"$float": "nan" | "inf" | "-inf" | "-0" | decimal}` a float (so `3.0`
 * stays a float), `{"$bytes": base64}` a byte string, `{"$map": [[k, v], ...]}` a table with any
 * keys; other objects and arrays are tables. An object with a key starting with `$` must be one
 * of these tags, alone. `where` names the value in errors.
 */
export function jsonToLua(json: unknown, where = 'the value'): unknown {
  const convert = (j: unknown, at: string, depth: number): unknown => {
    if (j === null) return undefined;
    if (typeof j === 'boolean' || typeof j === 'number' || typeof j === 'string') return j;
    if (typeof j !== 'object') throw new JsonValueError(`${at}: a ${typeof j} is not JSON`);
    if (depth >= MAX_JSON_DEPTH) throw new JsonValueError(`${at}: nested more than ${MAX_JSON_DEPTH} levels deep`);
    if (Array.isArray(j)) return j.map((x, i) => convert(x, `${at}[${i}]`, depth + 1));
    const keys = Object.keys(j);
    const tag = keys.find((k) => k.startsWith('$'));
    if (tag === undefined) {
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        Object.defineProperty(out, k, { value: convert((j as Record<string, unknown>)[k], `${at}.${k}`, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (keys.length !== 1) throw new JsonValueError(`${at}: an object with a '$' key must be a tag alone ({"$int": ...}, {"$float": ...}, {"$bytes": ...} or {"$map": ...}), got keys ${keys.join(', ')}`);
    const payload = (j as Record<string, unknown>)[tag];
    switch (tag) {
      case '$int': {
        if (typeof payload !== 'string' || !/^-?\d{1,20}$/.test(payload)) throw new JsonValueError(`${at}: $int wants a decimal integer as a string, got ${JSON.stringify(payload)}`);
        const n = BigInt(payload);
        if (n < INT64_MIN || n > INT64_MAX) throw new JsonValueError(`${at}: $int ${payload} does not fit in 64 bits`);
        return n;
      }
      case '$float': {
        const special: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity, '-0': -0 };
        if (typeof payload === 'string' && payload in special) return new LuaFloat(special[payload]);
        const n = typeof payload === 'number' ? payload : typeof payload === 'string' && payload.trim() !== '' ? Number(payload) : NaN;
        if (!Number.isFinite(n)) throw new JsonValueError(`${at}: $float wants a number, or "nan", "inf", "-inf" or "-0", got ${JSON.stringify(payload)}`);
        return new LuaFloat(n);
      }
      case '$bytes': {
        if (typeof payload !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 !== 0) {
          throw new JsonValueError(`${at}: $bytes wants base64 text, got ${JSON.stringify(payload).slice(0, 40)}`);
        }
        return new Uint8Array(Buffer.from(payload, 'base64'));
      }
      case '$map': {
        if (!Array.isArray(payload)) throw new JsonValueError(`${at}: $map wants an array of [key, value] pairs`);
        const m = new Map<unknown, unknown>();
        payload.forEach((pair, i) => {
          if (!Array.isArray(pair) || pair.length !== 2 || pair[0] === null) throw new JsonValueError(`${at}.$map[${i}]: a pair is [key, value] with a key that is not null`);
          m.set(convert(pair[0], `${at}.$map[${i}][0]`, depth + 1), convert(pair[1], `${at}.$map[${i}][1]`, depth + 1));
        });
        return m;
      }
      default:
        throw new JsonValueError(`${at}: unknown tag ${JSON.stringify(tag)} (the tags are $int, $float, $bytes and $map)`);
    }
  };
  return convert(json, where, 0);
}
