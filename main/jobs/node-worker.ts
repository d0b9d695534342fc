/** WorkerFactory for plain Node (e2e bridge server, CLI-side tests): `child_process.fork` of the same worker.ts. */
import { fork } from 'node:child_process';
import type { WorkerFactory } from './job-host';
import type { FromWorker } from './protocol';

export function nodeWorkerFactory(workerPath: string, execArgv: string[] = ['--import', 'tsx']): WorkerFactory {
  return () => {
    const child = fork(workerPath, [], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    return {
      send: (msg) => {
        if (child.connected) child.send(msg);
      },
      onMessage: (cb) => child.on('message', (m) => cb(m as FromWorker)),
      onExit: (cb) => child.on('exit', (code) => cb(code)),
      kill: () => {
        if (child.exitCode === null) child.kill();
      },
    };
  };
}
