/**
 * The engine worker: hosts engine jobs outside main's event loop.
 * Electron: started with `utilityProcess.fork` (messages over `process.parentPort`).
 * e2e / Node: started with `child_process.fork` (messages over `process.send`). Same code, different transport.
 */
import { engine, engineCapabilities } from './engine-bridge';
import type { FromWorker, ToWorker } from './protocol';
import type { EngineContract, EngineEvent } from './engine-contract';
import { toUserError } from '../ipc/errors';
import { makeThumbnails } from './thumbnails';

interface ParentPort {
  on(event: 'message', cb: (e: { data: ToWorker }) => void): void;
  postMessage(msg: FromWorker): void;
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;

function send(msg: FromWorker): void {
  if (parentPort) parentPort.postMessage(msg);
  else process.send?.(msg);
}

const running = new Map<string, AbortController>();

async function call(msg: Extract<ToWorker, { type: 'call' }>): Promise<void> {
  const controller = new AbortController();
  running.set(msg.id, controller);
  const opts = { signal: controller.signal, onEvent: (event: EngineEvent) => send({ type: 'event', id: msg.id, event }) };
  // main validated the request against its schema before it reached this process
  const args = <K extends keyof EngineContract>(_: K) => msg.args as Parameters<EngineContract[K]>;
  try {
    let value: unknown;
    switch (msg.method) {
      case 'scanDataset': {
        const a = args('scanDataset'); value = await engine.scanDataset(a[0], a[1] ?? {}, opts.onEvent);
        break;
      }
      case 'inspectBackbone': {
        value = await engine.inspectBackbone(args('inspectBackbone')[0]);
        break;
      }
      case 'listMethods': {
        value = await engine.listMethods(args('listMethods')[0] ?? {});
        break;
      }
      case 'trainRun': {
        value = await engine.trainRun(args('trainRun')[0], opts);
        break;
      }
      case 'evaluateRun': {
        value = await engine.evaluateRun(args('evaluateRun')[0]);
        break;
      }
      case 'exportRun': {
        const a = args('exportRun'); value = await engine.exportRun(a[0], a[1], opts);
        break;
      }
      case 'predictWithModel': {
        const a = args('predictWithModel'); value = await engine.predictWithModel(a[0], a[1]);
        break;
      }
      case 'raceMethods': {
        value = await engine.raceMethods(args('raceMethods')[0], opts);
        break;
      }
      case 'capabilities': value = await engineCapabilities(); break;
      case 'thumbnails': {
        const [files, size, view] = msg.args as Parameters<typeof makeThumbnails>;
        value = await makeThumbnails(files, size, view);
        break;
      }
      case 'crash': process.exit(70); // test hook: lets tests prove a worker crash is reported, not fatal
      default: throw new Error(`unknown worker method ${String(msg.method)}`);
    }
    send({ type: 'result', id: msg.id, value });
  } catch (e) {
    if (controller.signal.aborted) send({ type: 'error', id: msg.id, error: { code: 'cancelled', message: 'Cancelled.', hint: 'Start it again when you are ready.' } });
    else send({ type: 'error', id: msg.id, error: toUserError(e) });
  } finally {
    running.delete(msg.id);
  }
}

function onMessage(msg: ToWorker): void {
  if (msg.type === 'call') void call(msg);
  else if (msg.type === 'cancel') running.get(msg.id)?.abort();
}

if (parentPort) parentPort.on('message', (e) => onMessage(e.data));
else process.on('message', (m) => onMessage(m as ToWorker));

process.on('uncaughtException', (e) => {
  // report, then exit: the host turns the exit into a visible error on every pending job
  console.error('[attune worker] uncaught', e);
  process.exit(71);
});

send({ type: 'ready' });
