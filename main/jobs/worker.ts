/**
 * The engine worker: hosts engine jobs outside main's event loop.
 * Electron: started with `utilityProcess.fork` (messages over `process.parentPort`).
 * Browser mode / tests: started with `child_process.fork` (messages over `process.send`). Same code.
 */
import { jobs, type JobOptions } from './engine-bridge';
import type { FromWorker, ToWorker } from './protocol';
import { toUserError } from '../ipc/errors';

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
  const job: JobOptions = { signal: controller.signal, onEvent: (event) => send({ type: 'event', id: msg.id, event }) };
  try {
    if (!Object.hasOwn(jobs, msg.method)) throw new Error(`unknown worker method ${String(msg.method)}`);
    // the host typed the arguments from the same table (JobHost.call), and main validated the user's input
    const run = jobs[msg.method] as (job: JobOptions, ...args: unknown[]) => Promise<unknown>;
    send({ type: 'result', id: msg.id, value: await run(job, ...msg.args) });
  } catch (e) {
    if (controller.signal.aborted)
      send({
        type: 'error',
        id: msg.id,
        error: { code: 'cancelled', message: 'Cancelled.', hint: 'Start it again when you are ready.' },
      });
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
