/**
 * A real sweep through Slurm's sbatch on the one-node cluster that `.ci/run` starts (scripts/slurm/start-cluster.sh).
 * Where no Slurm cluster is up, the test is skipped with the reason printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAttune } from '../testing/cli';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';

function slurmSkipReason(): string | undefined {
  const s = spawnSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8' });
  if (s.error)
    return 'Slurm is not installed (sinfo not found); .ci/run installs slurm-wlm and starts scripts/slurm/start-cluster.sh';
  if (s.status !== 0)
    return `no Slurm controller answers (sinfo: ${s.stderr.trim()}); start one with scripts/slurm/start-cluster.sh`;
  if (!/^(idle|mixed|allocated|completing)/m.test(s.stdout))
    return `no Slurm node is usable (state: ${s.stdout.trim() || 'none'})`;
  return undefined;
}
const skip = slurmSkipReason();
if (skip) console.log(`# SKIP Slurm tests: ${skip}`);

const attune = (...args: string[]) => runAttune(args);

test(
  'sbatch: a two-method, two-seed sweep runs as one job array of attune train runs; status, results and re-run',
  { skip },
  () => {
    const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 10);
    const out = join(tempDir(), 'sweep');
    const args = [
      'sweep',
      '--data',
      data,
      '--model',
      MODELS.tinyVit,
      '--methods',
      'linear,lora',
      '--seeds',
      '0,1',
      '--epochs',
      '1',
      '--batch',
      '8',
      '--out',
      out,
      '--backend',
      'slurm',
      '--cpus',
      '1',
      '--mem',
      '2G',
      '--time',
      '10:00',
      '--json',
    ];
    const r = attune(...args, '--wait');
    assert.equal(r.code, 0, r.stderr);
    const sub = r.lines.find((l) => l.type === 'sweep-submitted')!;
    assert.deepEqual(sub.trials, [0, 1, 2, 3]);
    // the array really went through Slurm: its tasks' output files and the submission record
    const submissions = readFileSync(join(out, 'slurm', 'submissions.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(submissions.length, 1);
    for (let i = 0; i < 4; i++)
      assert.ok(existsSync(join(out, 'slurm', `${sub.jobId as string}_${i}.out`)), `array task ${i} output`);
    // each trial is an ordinary run folder made by attune train
    for (const t of ['linear-s0', 'linear-s1', 'lora-s0', 'lora-s1']) {
      const run = JSON.parse(readFileSync(join(out, 'trials', t, 'run.json'), 'utf8')) as {
        method: string;
        seed: number;
      };
      assert.equal(run.method, t.split('-')[0]);
      assert.equal(run.seed, Number(t.slice(-1)));
      assert.match(readFileSync(join(out, 'trials', t, 'train.log'), 'utf8'), /"type":"done"/);
    }
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      configs: { config: string; testAccuracy: { n: number } }[];
      missing: unknown[];
    };
    assert.deepEqual(
      results.configs.map((c) => [c.config, c.testAccuracy.n]),
      [
        ['linear', 2],
        ['lora', 2],
      ],
    );
    assert.equal(results.missing.length, 0);
    const st = attune('sweep', '--status', out, '--json');
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual((st.lines[0].counts as Record<string, number>).done, 4);
    // re-running the same command submits nothing: every trial is done
    const again = attune(...args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.lines.find((l) => l.type === 'sweep-submitted')!.trials, []);
  },
);

test(
  'sbatch: a trial cancelled by Slurm mid-training is reported, and re-running the command resubmits only it',
  { skip },
  async () => {
    const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest'], 10);
    const out = join(tempDir(), 'sweep');
    const args = [
      'sweep',
      '--data',
      data,
      '--model',
      MODELS.tinyVit,
      '--methods',
      'lora',
      '--seeds',
      '0,1',
      '--epochs',
      '30',
      '--batch',
      '4',
      '--out',
      out,
      '--backend',
      'slurm',
      '--cpus',
      '1',
      '--json',
    ];
    const first = attune(...args);
    assert.equal(first.code, 0, first.stderr);
    const jobId = first.lines.find((l) => l.type === 'sweep-submitted')!.jobId as string;
    // kill task 1 while it trains, as a node failure or an administrator would
    const log = join(out, 'trials', 'lora-s1', 'train.log');
    for (let i = 0; i < 3000 && !(existsSync(log) && readFileSync(log, 'utf8').includes('"type":"step"')); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(spawnSync('scancel', ['--signal=KILL', `${jobId}_1`]).status, 0);
    for (let i = 0; i < 600 && /\S/.test(spawnSync('squeue', ['-h', '-j', jobId], { encoding: 'utf8' }).stdout); i++)
      await new Promise((r) => setTimeout(r, 200));
    const st = attune('sweep', '--status', out, '--json');
    const trials = st.lines[0].trials as { id: string; state: string; error?: string }[];
    assert.equal(trials.find((t) => t.id === 'lora-s0')!.state, 'done');
    const killed = trials.find((t) => t.id === 'lora-s1')!;
    assert.equal(killed.state, 'failed', JSON.stringify(killed));
    assert.match(killed.error!, /killed|no longer in the Slurm queue/);
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /1 of 2 trials are missing/);
    const again = attune(...args, '--wait');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.lines.find((l) => l.type === 'sweep-submitted')!.trials, [1]);
    const done = attune('sweep', '--status', out, '--json');
    assert.equal((done.lines[0].counts as Record<string, number>).done, 2);
    assert.equal(readFileSync(log, 'utf8').match(/== .* start on/g)!.length, 2, 'the same run folder resumed');
  },
);
