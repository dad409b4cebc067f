// The script a LuaWorker runs in its worker (Node worker_threads or a Web Worker): one Lua VM,
// whose store is the LuaWorker's own, reached through messages. It uses no Node built-in but
// worker_threads' parentPort, imported on Node only.
import { Lua, TableView } from '../vm/lua.js';
import {
  codecSpecial, errorToWire, FromWorker, fromWire, markers, MessageStore, Op, ToWorker, toWire,
} from './protocol.js';

interface Port {
  post(message: FromWorker, transfer?: ArrayBuffer[]): void;
  listen(handler: (message: ToWorker) => void): void;
}

async function parentPort(): Promise<Port> {
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (isNode) {
    const name = 'node:worker_threads'; // hidden from bundlers: this path runs on Node only
    const { parentPort: port } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as typeof import('node:worker_threads');
    if (!port) throw new Error('lua-home: the worker script runs only as a LuaWorker\'s worker');
    return { post: (m, transfer) => port.postMessage(m, transfer), listen: (h) => port.on('message', h) };
  }
  const scope = globalThis as unknown as {
    postMessage(m: unknown, transfer: ArrayBuffer[]): void;
    addEventListener(t: 'message', h: (e: MessageEvent) => void): void;
  };
  return { post: (m, transfer) => scope.postMessage(m, transfer ?? []), listen: (h) => scope.addEventListener('message', (e) => h(e.data as ToWorker)) };
}

async function main(): Promise<void> {
  const port = await parentPort();
  const store = new MessageStore((m, transfer) => port.post(m, transfer));
  let lua: Lua | undefined;

  const out = (v: unknown) => toWire(v, (x) => (x instanceof TableView ? markers.table(x.id) : codecSpecial(x)));
  const into = (v: unknown) => fromWire(v, (id) => (lua as Lua).table(id));

  const run = async (call: Op): Promise<unknown> => {
    const vm = lua as Lua;
    switch (call.op) {
      case 'compute': {
        const args = call.args.map(into);
        // compute(code, ...args): forwarded as they are to a Lua that takes them.
        const r = (vm.compute as (code: string | Uint8Array, ...rest: unknown[]) => ReturnType<Lua['compute']>)(call.code, ...args);
        return { values: out(r.values), output: r.output, outputBytes: r.outputBytes, outputDropped: r.outputDropped };
      }
      case 'save': return vm.save();
      case 'flush': return vm.flush();
      case 'saveImage': return vm.saveImage();
      case 'exportState': return vm.exportState();
      case 'stats': return vm.stats();
      case 'gc': return vm.gc();
      case 'newTable': return vm.newTable().id;
      case 'setInstructionLimit': return vm.setInstructionLimit(call.limit);
      case 'table': {
        const t = vm.table(call.id);
        switch (call.method) {
          case 'get': return out(t.get(into(call.key) as never));
          case 'has': return t.has(into(call.key) as never);
          case 'delete': return t.delete(into(call.key) as never);
          case 'set': t.set(into(call.key) as never, into(call.value)); return undefined;
          case 'size': return t.size;
          case 'keys': return out([...t.keys()]);
          case 'entries': return out([...t.entries()]);
          case 'toJS': return out(t.toJS());
        }
      }
    }
    throw new TypeError(`unknown Lua worker call ${JSON.stringify((call as { op: unknown }).op)}`);
  };

  port.listen((message) => {
    if (message.kind === 'store') {
      store.answer(message);
    } else if (message.kind === 'create') {
      const { module, ...options } = message.init;
      Lua.create({ ...options, wasm: module, store }).then(
        (vm) => {
          lua = vm;
          port.post({ kind: 'created', homeId: vm.exports.get_memory_table_id() >>> 0 });
        },
        (e) => port.post({ kind: 'reply', id: 0, ok: false, error: errorToWire(e) }),
      );
    } else {
      const { id, call } = message;
      const fail = (e: unknown) => port.post({ kind: 'reply', id, ok: false, error: errorToWire(e) });
      Promise.resolve()
        .then(() => run(call))
        .then((value) => {
          try {
            port.post({ kind: 'reply', id, ok: true, value });
          } catch (e) {
            fail(e); // a value structured clone cannot carry
          }
        }, fail);
    }
  });
}

main().catch((e) => {
  throw e; // uncaught: the LuaWorker sees its worker fail
});
