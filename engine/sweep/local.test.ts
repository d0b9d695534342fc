/** The local backend end to end with real trainings: a killed trial is reported and a re-run completes it; the race. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { DATASETS, MODELS, sampleDataset, tempDir } from '../testing/fixtures';
import { runLocal } from './local';
import { runRace } from './race';
import { computeResults, resultsMarkdown, writeResults } from './results';
import { validateSweepSpec } from './spec';
import { openSweep } from './sweep';
import { trialDir } from './job';

const data = sampleDataset(DATASETS.aid, ['Beach', 'Forest', 'Parking'], 10);

/** Resolves once `file` contains `text`. */
const waitFor = async (file: string, text: string): Promise<void> => {
  for (;;) {
    try {
      if (readFileSync(file, 'utf8').includes(text)) return;
    } catch {
      /* not written yet */
    }
    await new Promise((r) => setTimeout(r, 30));
  }
};

test('local sweep: a trial killed mid-training is marked failed with its log tail, the others finish, the re-run completes it', async () => {
  const spec = validateSweepSpec({
    data,
    model: MODELS.tinyVit,
    methods: ['linear', 'lora'],
    seeds: [0, 1],
    epochs: 10,
    batch: 8,
  });
  const sweep = await openSweep(spec, join(tempDir(), 'sweep'));
  const victim = sweep.trials.find((t) => t.id === 'lora-s0')!;
  const kill = async (child: ChildProcess) => {
    await waitFor(join(trialDir(sweep.dir, victim), 'train.log'), '"type":"step"');
    process.kill(-child.pid!, 'SIGKILL'); // the job's whole process group, as the OOM killer or a node failure would
  };
  const first = await runLocal(sweep, { onStart: (t, child) => t.id === victim.id && void kill(child) });
  const byId = new Map(first.map((s) => [s.trial.id, s]));
  assert.equal(byId.get(victim.id)!.state, 'failed');
  assert.match(byId.get(victim.id)!.error!, /killed/);
  assert.match(byId.get(victim.id)!.logTail!, /"type":"step"/);
  for (const id of ['linear-s0', 'linear-s1', 'lora-s1']) assert.equal(byId.get(id)!.state, 'done', id);
  const partial = await writeResults(sweep, first);
  assert.equal(partial.missing.length, 1);
  assert.equal(partial.configs.find((c) => c.config === 'lora')!.testAccuracy.n, 1);
  assert.match(readFileSync(join(sweep.dir, 'results.md'), 'utf8'), /1 of 4 trials are missing/);

  const createdAt = JSON.parse(readFileSync(join(trialDir(sweep.dir, victim), 'run.json'), 'utf8')).createdAt as string;
  const started: string[] = [];
  const second = await runLocal(await openSweep(spec, sweep.dir), { onStart: (t) => started.push(t.id) });
  assert.deepEqual(started, [victim.id], 'only the unfinished trial runs again');
  assert.ok(second.every((s) => s.state === 'done'));
  // the same run folder was resumed, not replaced
  assert.equal(JSON.parse(readFileSync(join(trialDir(sweep.dir, victim), 'run.json'), 'utf8')).createdAt, createdAt);
  assert.equal(
    readFileSync(join(trialDir(sweep.dir, victim), 'train.log'), 'utf8').match(/== .* start on/g)!.length,
    2,
  );
  const r = computeResults(sweep, second);
  assert.equal(r.missing.length, 0);
  const lora = r.configs.find((c) => c.config === 'lora')!;
  assert.equal(lora.testAccuracy.n, 2);
  assert.ok(
    lora.testAccuracy.ci95 &&
      lora.testAccuracy.ci95[0] <= lora.testAccuracy.mean &&
      lora.testAccuracy.mean <= lora.testAccuracy.ci95[1],
  );
  const other = r.configs.find((c) => c.config !== r.best)!;
  assert.equal(other.vsBest!.n, 2, 'paired on both seeds');
  assert.match(resultsMarkdown(r), /All 4 trials finished/);
});

test('method race on a tiny budget: successive halving keeps the best third on validation, the winner trains the full budget', async () => {
  const spec = validateSweepSpec({
    data,
    model: MODELS.tinyVit,
    methods: ['linear', 'lora', 'bitfit'],
    seeds: [0, 1],
    epochs: 3,
    batch: 8,
    race: {},
  });
  const dir = join(tempDir(), 'race');
  const race = await runRace(spec, dir, (s) => runLocal(s, { parallel: 2 }));
  assert.equal(race.rungs.length, 1);
  const [rung] = race.rungs;
  assert.equal(rung.epochs, 1);
  assert.equal(rung.candidates.length, 3);
  assert.deepEqual(
    rung.candidates.map((c) => c.kept),
    [true, false, false],
  );
  const vals = rung.candidates.map((c) => c.valAccuracy.mean);
  assert.deepEqual(
    vals,
    [...vals].sort((a, b) => b - a),
    'ranked by validation accuracy',
  );
  assert.equal(race.winner, rung.candidates[0].config);
  assert.equal(race.result!.config, race.winner);
  assert.equal(race.result!.testAccuracy.n, 2);
  // the final rung's trials ran the full budget
  const final = JSON.parse(readFileSync(join(dir, 'rungs', 'r1', 'sweep.json'), 'utf8')) as {
    trials: { epochs: number }[];
  };
  assert.ok(final.trials.every((t) => t.epochs === 3));
  const metrics = readFileSync(join(dir, 'rungs', 'r1', 'trials', `${race.winner}-s0`, 'metrics.jsonl'), 'utf8');
  assert.equal(metrics.split('\n').filter((l) => l.includes('"type":"epoch"')).length, 3);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'race.json'), 'utf8')).winner, race.winner);
});

test('local sweep: Ctrl-C saves and stops the running trial and starts no more; a damaged trial fails with its reason; the re-run finishes', async () => {
  const spec = validateSweepSpec({
    data,
    model: MODELS.tinyVit,
    methods: ['lora'],
    seeds: [0, 1, 2],
    // long enough (72 steps) that the abort lands mid-run on a busy machine: at 3 epochs of batch 8 the trial once
    // finished before it (the engine tests running beside two benchmarks)
    epochs: 12,
    batch: 4,
  });
  const sweep = await openSweep(spec, join(tempDir(), 'sweep'));
  const [first, , damaged] = sweep.trials;
  // bad input: a run folder whose run.json is damaged
  mkdirSync(trialDir(sweep.dir, damaged), { recursive: true });
  writeFileSync(join(trialDir(sweep.dir, damaged), 'run.json'), '{"version": 1, "method": ');
  const abort = new AbortController();
  const started: string[] = [];
  const st = await runLocal(sweep, {
    signal: abort.signal,
    onStart: (t) => {
      started.push(t.id);
      void waitFor(join(trialDir(sweep.dir, first), 'train.log'), '"type":"step"').then(() => abort.abort());
    },
  });
  assert.deepEqual(started, [first.id], 'no trial starts after Ctrl-C');
  assert.equal(st[0].state, 'cancelled');
  assert.deepEqual(
    st.slice(1).map((s) => s.state),
    ['pending', 'pending'],
  );
  const rest = await runLocal(sweep);
  assert.deepEqual(
    rest.map((s) => s.state),
    ['done', 'done', 'failed'],
  );
  assert.match(rest[2].error!, /no readable run\.json/);
  assert.ok(rest[2].logTail);
  const r = computeResults(sweep, rest);
  assert.deepEqual(
    r.missing.map((m) => m.trial),
    [damaged.id],
  );
  assert.match(resultsMarkdown(r), /1 of 3 trials are missing[^]*lora-s2: failed — .*run\.json/);
});
