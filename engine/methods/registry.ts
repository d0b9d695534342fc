/** All methods by name. Adding a method: write its module and add one line here. */
import { AttuneError } from '../errors';
import { bitfit } from './bitfit';
import { full } from './full';
import { gps } from './gps/index';
import { l2sp } from './l2sp';
import { linear } from './linear';
import { lora } from './lora';
import type { Method } from './method';
import { pace } from './pace/index';
import { spdFull } from './spd-full';

export const METHODS: Method[] = [linear, full, bitfit, lora, l2sp, gps, pace, spdFull];

export function getMethod(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m)
    throw new AttuneError(
      'unknown-method',
      `There is no method called "${name}".`,
      `Choose one of: ${METHODS.map((x) => x.name).join(', ')}.`,
    );
  return m;
}
