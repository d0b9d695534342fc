/**
 * The class-imbalance handling a run uses: the user's choice on the Method screen, else what the scan proposes
 * (class-weighted loss when the largest class has ≥ 3× the images of the smallest), else none.
 * Pure, so the Method screen shows exactly what training will get.
 */
import type { Project } from '../ipc/types';
import type { BalanceMode } from '../jobs/engine-contract';

export function balanceFor(p: Pick<Project, 'method' | 'scan'>): BalanceMode {
  return p.method?.balance ?? p.scan?.imbalance?.proposedBalance ?? 'none';
}
