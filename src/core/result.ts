import { Role, type RoleCode, type Selection } from './types.js';

/** Marks a token as not kept in a per-token role array. */
export const DROPPED = 255;

/**
 * Builds a Selection from a per-token role array (length N; DROPPED for tokens not kept): `keep` comes out
 * sorted ascending and `roles` parallel to it.
 */
export function selectionFromRoles(tokenRoles: Uint8Array, extras: Omit<Selection, 'keep' | 'roles'> = {}): Selection {
  let count = 0;
  for (let i = 0; i < tokenRoles.length; i++) if (tokenRoles[i] !== DROPPED) count++;
  const keep = new Int32Array(count);
  const roles = new Uint8Array(count);
  for (let i = 0, k = 0; i < tokenRoles.length; i++) {
    if (tokenRoles[i] === DROPPED) continue;
    keep[k] = i;
    roles[k++] = tokenRoles[i];
  }
  return { keep, roles, ...extras };
}

/** Builds a Selection where every token in `indices` has the same role (default `mis`). */
export function selectionFromIndices(
  tokens: number,
  indices: ArrayLike<number>,
  role: RoleCode = Role.mis,
  extras: Omit<Selection, 'keep' | 'roles'> = {},
): Selection {
  const tokenRoles = new Uint8Array(tokens).fill(DROPPED);
  for (let k = 0; k < indices.length; k++) tokenRoles[indices[k]] = role;
  return selectionFromRoles(tokenRoles, extras);
}
