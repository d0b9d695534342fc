/** WorkerFactory for Electron: a utility process per worker, running out/main/worker.js. */
import { utilityProcess } from 'electron';
import type { WorkerFactory } from './job-host';
import type { FromWorker } from './protocol';

export function electronWorkerFactory(workerPath: string): WorkerFactory {
  return (name) => {
    const child = utilityProcess.fork(workerPath, [], { serviceName: name, stdio: 'inherit' });
    let alive = true;
    child.on('exit', () => (alive = false));
    return {
      send: (msg) => {
        if (alive) child.postMessage(msg);
      },
      onMessage: (cb) => child.on('message', (m) => cb(m as FromWorker)),
      onExit: (cb) => child.on('exit', (code) => cb(code)),
      kill: () => {
        if (alive) child.kill();
      },
    };
  };
}
