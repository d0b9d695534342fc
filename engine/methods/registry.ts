/** All methods by name. Adding a method: write its module and add one line here. */
import { AttuneError } from '../errors';
import { full } from './full';
import { linear } from './linear';
import type { Method } from './method';

export const METHODS: Method[] = [linear, full];

export function getMethod(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new AttuneError('unknown-method', `There is no method called "${name}".`, `Choose one of: ${METHODS.map((x) => x.name).join(', ')}.`);
  return m;
}
