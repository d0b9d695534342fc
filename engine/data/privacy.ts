/**
 * Patient identifiers never leave the user's data (RULES.md): PatientID / StudyInstanceUID (and
 * patient columns of a labels file) become salted pseudonyms before they reach a scan report, a
 * split, a run folder, an export or a log. The salt is 32 random bytes kept in Attune's own cache
 * folder (never the dataset, never a run folder), so a pseudonym cannot be recomputed from an id
 * by anyone without this machine's salt, yet the same patient keeps the same pseudonym across scans.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

let processSalt: Buffer | undefined;
const salts = new Map<string, Buffer>();

/** The salt stored in `dir` (created on first use); a per-process salt when `dir` cannot be written. */
export function loadSalt(dir: string): Buffer {
  const file = path.join(dir, 'pseudonym-salt.key');
  const known = salts.get(file);
  if (known) return known;
  let salt: Buffer;
  try {
    salt = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    if (salt.length < 16) throw new Error('short salt');
  } catch {
    salt = randomBytes(32);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, salt.toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch {
      try {
        salt = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex'); // another process won the race
        if (salt.length < 16) throw new Error('short salt');
      } catch {
        processSalt ??= randomBytes(32);
        salt = processSalt;
      }
    }
  }
  salts.set(file, salt);
  return salt;
}

/** A salted pseudonym of an identifier: 'pt-' + 16 hex digits of HMAC-SHA256. */
export function pseudonym(id: string, salt: Buffer): string {
  return `pt-${createHmac('sha256', salt).update(id.trim()).digest('hex').slice(0, 16)}`;
}

/** Column names of a labels file that hold patient identifiers (pseudonymised like DICOM PatientID). */
export function isPatientColumn(name: string | undefined): boolean {
  return !!name && /patient|subject|mrn|accession/i.test(name);
}
