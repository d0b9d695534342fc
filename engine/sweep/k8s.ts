/**
 * The Kubernetes backend: writes an Indexed Job for the sweep (completion index i runs jobs/<i>.sh, the same job
 * description as Slurm's array task i). Attune does not run it: `kubectl apply -f job.yaml` does, on a cluster whose
 * volume holds the data, the backbone and the sweep folder at the same paths as here.
 */
import { writeFile } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { stringify } from 'yaml';
import type { Sweep } from './sweep';

export interface K8sOptions {
  /** container image with Attune at /opt/attune (see docs/cluster.md) */
  image?: string;
  /** PersistentVolumeClaim holding data, model and sweep folder */
  pvc?: string;
  /** where the claim is mounted (default: the folder that holds the data, the model and the sweep) */
  mountPath?: string;
  parallel?: number;
  gpus?: number;
  cpus?: number;
  mem?: string;
  /** seconds before a trial's pod is stopped */
  activeDeadlineSeconds?: number;
}

const commonDir = (paths: string[]): string => {
  const parts = paths.map((p) => resolve(p).split(sep));
  const out: string[] = [];
  for (let i = 0; parts.every((p) => i < p.length - 1 && p[i] === parts[0][i]); i++) out.push(parts[0][i]);
  return out.join(sep) || sep;
};

const dnsName = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50) || 'sweep';

/** The Job manifest as a plain object (validated against the Kubernetes schema in the tests). */
export function k8sJob(sweep: Sweep, opts: K8sOptions = {}): Record<string, unknown> {
  const mountPath = opts.mountPath ?? commonDir([sweep.dir, sweep.spec.data, sweep.spec.model]);
  const resources: Record<string, Record<string, string>> = {};
  const requests: Record<string, string> = {};
  if (opts.cpus) requests.cpu = String(opts.cpus);
  if (opts.mem) requests.memory = opts.mem.replace(/([0-9])([KMGT])$/i, '$1$2i');
  if (Object.keys(requests).length) resources.requests = requests;
  if (opts.gpus) resources.limits = { 'nvidia.com/gpu': String(opts.gpus) };
  const n = sweep.trials.length;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: `attune-${dnsName(sweep.dir.split(sep).pop() ?? 'sweep')}`,
      labels: { app: 'attune', 'attune/sweep': dnsName(sweep.dir.split(sep).pop() ?? '') },
    },
    spec: {
      completionMode: 'Indexed',
      completions: n,
      parallelism: Math.min(n, opts.parallel ?? n),
      // a failed trial is recorded in its folder and does not stop the others
      backoffLimitPerIndex: 1,
      ...(opts.activeDeadlineSeconds ? { activeDeadlineSeconds: opts.activeDeadlineSeconds } : {}),
      template: {
        metadata: { labels: { app: 'attune' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'trial',
              image: opts.image ?? 'attune:latest',
              command: ['bash', '-c', `exec bash ${sweep.dir}/jobs/"$JOB_COMPLETION_INDEX".sh`],
              env: [
                { name: 'ATTUNE_ROOT', value: '/opt/attune' },
                { name: 'ATTUNE_NODE', value: 'node' },
                ...(opts.cpus ? [{ name: 'ATTUNE_THREADS', value: String(opts.cpus) }] : []),
              ],
              ...(Object.keys(resources).length ? { resources } : {}),
              volumeMounts: [{ name: 'shared', mountPath }],
            },
          ],
          volumes: [{ name: 'shared', persistentVolumeClaim: { claimName: opts.pvc ?? 'attune-shared' } }],
        },
      },
    },
  };
}

export async function emitK8sJob(sweep: Sweep, file: string, opts: K8sOptions = {}): Promise<void> {
  await writeFile(
    file,
    `# attune sweep ${sweep.dir}: ${sweep.trials.length} trials; run with kubectl apply -f ${file}\n${stringify(k8sJob(sweep, opts))}`,
  );
}
