/** App settings in <userData>/settings.json (the workspace location lives here, outside the workspace). */
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from './workspace/atomic';
import type { Settings } from './ipc/types';

export class SettingsStore {
  private current: Settings | null = null;
  constructor(
    private readonly userData: string,
    private readonly envCatalogue: string | null = null,
  ) {}

  get file(): string {
    return join(this.userData, 'settings.json');
  }

  async get(): Promise<Settings> {
    if (!this.current) {
      const saved = await readJson<Partial<Settings>>(this.file).catch(() => null);
      this.current = {
        workspace: saved?.workspace ?? join(this.userData, 'workspace'),
        catalogueSource: saved?.catalogueSource ?? null,
        provider: saved?.provider ?? 'auto',
      };
    }
    // ATTUNE_CATALOGUE overrides the saved source (tests, managed installs)
    return { ...this.current, catalogueSource: this.envCatalogue ?? this.current.catalogueSource };
  }

  async update(patch: Partial<Settings>): Promise<Settings> {
    const cur = await this.get();
    this.current = { ...cur, ...patch };
    await writeJsonAtomic(this.file, this.current);
    return this.get();
  }
}
