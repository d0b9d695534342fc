/**
 * Shows engine events on the terminal: a progress bar for anything long, one line per epoch;
 * or, with --json, one JSON object per line (the contract outside tools read).
 */
import cliProgress from 'cli-progress';
import type { EngineEvent, EventSink } from '../events';

export function eventPrinter(json: boolean): { sink: EventSink; stop: () => void } {
  if (json) return { sink: (e) => process.stdout.write(JSON.stringify(e) + '\n'), stop: () => {} };
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | undefined;
  let barPhase = '';
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
    barPhase = '';
  };
  const progress = (phase: string, done: number, total: number, detail: string) => {
    if (!tty) return;
    if (phase !== barPhase) {
      stopBar();
      bar = new cliProgress.SingleBar(
        { format: `${phase.padEnd(16)} [{bar}] {value}/{total} {detail}`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, done, { detail });
      barPhase = phase;
    } else bar!.update(done, { detail });
  };
  const sink = (e: EngineEvent) => {
    switch (e.type) {
      case 'progress':
        progress(e.phase, e.done, e.total, e.detail ?? '');
        break;
      case 'step':
        progress(
          `epoch ${e.epoch + 1}`,
          e.step,
          e.stepsPerEpoch,
          `loss ${e.loss.toFixed(4)}  ${e.imagesPerSecond.toFixed(1)} img/s${e.cachedFeatures ? ' (head on cached features)' : ''}`,
        );
        break;
      case 'epoch': {
        stopBar();
        const d = Object.entries(e.diagnostics)
          .map(([k, v]) => `${k} ${v.toPrecision(3)}`)
          .join('  ');
        console.error(
          `epoch ${e.epoch + 1}/${e.epochs}  train loss ${e.trainLoss.toFixed(4)} acc ${(e.trainAccuracy * 100).toFixed(1)}%  val acc ${(e.valAccuracy * 100).toFixed(1)}%${e.valBalancedAccuracy !== undefined ? ` bal ${(e.valBalancedAccuracy * 100).toFixed(1)}%` : ''}${e.best ? ' (best)' : ''}  ${e.seconds.toFixed(1)} s  ${d}`,
        );
        break;
      }
      case 'selection':
        stopBar();
        console.error(
          `${e.method.toUpperCase()} selection per block: ${Object.entries(e.perBlock)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
        break;
      case 'provider':
        console.error(`device: ${e.provider.toUpperCase()}${e.fallbackReason ? ` (${e.fallbackReason})` : ''}`);
        break;
      case 'memory':
        stopBar();
        console.error(`${e.enough ? '' : 'warn: '}${e.message}`);
        break;
      case 'log':
        stopBar();
        console.error(`${e.level === 'info' ? '' : e.level + ': '}${e.message}`);
        break;
      case 'phase':
        stopBar();
        console.error(`${e.phase}${e.detail ? ': ' + e.detail : ''}`);
        break;
      case 'done':
        stopBar();
        console.error(
          `done: best epoch ${e.bestEpoch + 1} by val ${e.selectedBy ?? 'accuracy'} ${((e.bestValScore ?? e.bestValAccuracy) * 100).toFixed(1)}% (val accuracy ${(e.bestValAccuracy * 100).toFixed(1)}%)${e.testAccuracy !== undefined ? `, test accuracy ${(e.testAccuracy * 100).toFixed(1)}%` : ''} — ${e.runDir}`,
        );
        break;
      case 'cancelled':
        stopBar();
        console.error(`cancelled; the run is saved and can be resumed by running the same command again (${e.runDir})`);
        break;
    }
  };
  return { sink, stop: stopBar };
}
