/**
 * Projects and runs on disk: <workspace>/projects/<id>/project.json and
 * <workspace>/projects/<id>/runs/<runId>/attune-run.json (the engine writes its own files beside it).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { readJson, writeJsonAtomic } from './atomic';
import type { Project, ProjectSummary, RunRecord, RunSummary } from '../ipc/types';
import { AttuneError } from '../ipc/errors';

const ID = /^[a-z0-9-]{1,64}$/;

function checkId(id: string): string {
  if (!ID.test(id))
    throw new AttuneError(
      'bad-id',
      'That project or run id is not valid.',
      'Go back to Home and open the project from the list.',
    );
  return id;
}

export function runSummary(r: RunRecord, projectName?: string): RunSummary {
  return {
    id: r.id,
    projectId: r.projectId,
    projectName,
    createdAt: r.createdAt,
    status: r.status,
    method: r.request.method,
    modelName: r.modelName,
    epochs: r.epochs.length,
    bestValAccuracy: r.bestValAccuracy,
    testAccuracy: r.testAccuracy,
  };
}

export class Workspace {
  constructor(readonly root: string) {}

  get projectsDir(): string {
    return join(this.root, 'projects');
  }
  get modelCacheDir(): string {
    return join(this.root, 'model-cache');
  }
  projectDir(id: string): string {
    return join(this.projectsDir, checkId(id));
  }
  /** the project's last method race (Compare: "Find the best method for my data") */
  raceDir(projectId: string): string {
    return join(this.projectDir(projectId), 'race');
  }
  runDir(projectId: string, runId: string): string {
    return join(this.projectDir(projectId), 'runs', checkId(runId));
  }

  async init(): Promise<void> {
    await mkdir(this.projectsDir, { recursive: true });
  }

  async listProjects(): Promise<ProjectSummary[]> {
    await this.init();
    const out: ProjectSummary[] = [];
    for (const id of await readdir(this.projectsDir)) {
      if (!ID.test(id)) continue;
      const p = await readJson<Project>(join(this.projectsDir, id, 'project.json')).catch(() => null);
      if (!p) continue;
      const runs = await this.listRuns(id);
      out.push({
        id,
        name: p.name,
        updatedAt: p.updatedAt,
        dataPath: p.data?.path ?? null,
        runs: runs.length,
        lastRun: runs[0] ? runSummary(runs[0], p.name) : null,
      });
    }
    return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  async createProject(name: string): Promise<Project> {
    const now = new Date().toISOString();
    const p: Project = {
      id: `${now.slice(0, 10)}-${randomUUID().slice(0, 8)}`,
      name,
      createdAt: now,
      updatedAt: now,
      data: null,
      scan: null,
      scannedAt: null,
      split: { valFraction: 0.15, testFraction: 0.15, seed: 42 },
      splitFrom: null,
      model: null,
      method: null,
    };
    await this.saveProject(p);
    return p;
  }

  async getProject(id: string): Promise<Project> {
    const p = await readJson<Project>(join(this.projectDir(id), 'project.json'));
    if (!p)
      throw new AttuneError(
        'project-missing',
        'This project no longer exists in the workspace.',
        'Go back to Home; if you moved the workspace, choose it again in Settings.',
      );
    return p;
  }

  async saveProject(p: Project): Promise<Project> {
    p.updatedAt = new Date().toISOString();
    await writeJsonAtomic(join(this.projectDir(p.id), 'project.json'), p);
    return p;
  }

  async deleteProject(id: string): Promise<void> {
    await rm(this.projectDir(id), { recursive: true, force: true });
  }

  async listRuns(projectId: string): Promise<RunRecord[]> {
    const dir = join(this.projectDir(projectId), 'runs');
    let ids: string[];
    try {
      ids = await readdir(dir);
    } catch {
      return [];
    }
    const runs: RunRecord[] = [];
    for (const id of ids) {
      if (!ID.test(id)) continue;
      const r = await readJson<RunRecord>(join(dir, id, 'attune-run.json')).catch(() => null);
      if (r) runs.push(r);
    }
    return runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async getRun(projectId: string, runId: string): Promise<RunRecord> {
    const r = await readJson<RunRecord>(join(this.runDir(projectId, runId), 'attune-run.json'));
    if (!r)
      throw new AttuneError(
        'run-missing',
        'This run no longer exists in the workspace.',
        'Open the project again from Home to see its runs.',
      );
    return r;
  }

  async saveRun(r: RunRecord): Promise<void> {
    await writeJsonAtomic(join(this.runDir(r.projectId, r.id), 'attune-run.json'), r);
  }

  /** After a restart, runs still marked "running" were interrupted: mark them so they can be resumed. */
  async markInterrupted(live: Set<string>): Promise<number> {
    let n = 0;
    for (const p of await this.listProjects()) {
      for (const r of await this.listRuns(p.id)) {
        if (r.status === 'running' && !live.has(r.id)) {
          r.status = 'interrupted';
          await this.saveRun(r);
          n++;
        }
      }
    }
    return n;
  }
}
