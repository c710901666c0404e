import { describe, expect, it } from 'vitest';
import { select } from '../../src/index.js';
import { rows, seeded } from '../helpers.js';

const kept = (s: { keep: Int32Array }) => Array.from(s.keep);
const roles = (s: { roles: Uint8Array }) => Array.from(s.roles);
const zeros = (n: number) => new Float32Array(n);

describe('uniform', () => {
  it('takes floor((k + 0.5)·N / n)', () => {
    expect(kept(select({ features: zeros(10), dims: [10, 1], budget: 3 }, { method: 'uniform' }))).toEqual([1, 5, 8]);
    expect(kept(select({ features: zeros(5), dims: [5, 1], budget: 1 }, { method: 'uniform' }))).toEqual([2]);
  });
});

describe('random', () => {
  it('draws n distinct tokens, the same for the same seed and different for another seed', () => {
    const input = { features: zeros(100), dims: [100, 1] as [number, number], budget: 10 };
    const a = kept(select(input, { method: 'random', seed: 5 }));
    expect(kept(select(input, { method: 'random', seed: 5 }))).toEqual(a);
    expect(kept(select(input, { method: 'random', seed: 6 }))).not.toEqual(a);
    expect(new Set(a).size).toBe(10);
    expect(kept(select(input, { method: 'random' }))).toEqual(kept(select(input, { method: 'random', seed: 0 })));
  });
});

describe('fastv', () => {
  it('keeps the highest raw importance, ties by lower index', () => {
    const input = { features: zeros(4), dims: [4, 1] as [number, number], importance: [0.1, 0.5, 0.5, 0.2] };
    expect(kept(select({ ...input, budget: 2 }, { method: 'fastv' }))).toEqual([1, 2]);
    expect(kept(select({ ...input, budget: 1 }, { method: 'fastv' }))).toEqual([1]);
    expect(kept(select({ ...input, budget: 3 }, { method: 'fastv' }))).toEqual([1, 2, 3]);
  });
});

describe('divprune', () => {
  const features = rows([1, 0], [0.99, 0.14], [0, 1], [-1, 0]);
  it('starts from the token farthest from its nearest neighbour, then max-min distance to the chosen set', () => {
    // nearest-neighbour distances: 0.0099, 0.0099, 0.86, 1 -> token 3 first; then token 0 (distance 2).
    expect(kept(select({ features, dims: [4, 2], budget: 2 }, { method: 'divprune' }))).toEqual([0, 3]);
    expect(kept(select({ features, dims: [4, 2], budget: 3 }, { method: 'divprune' }))).toEqual([0, 2, 3]);
  });
  it('breaks ties by the lower index (all-equal features)', () => {
    expect(kept(select({ features: rows([1, 1], [1, 1], [1, 1]), dims: [3, 2], budget: 2 }, { method: 'divprune' }))).toEqual([0, 1]);
  });
});

describe('dart', () => {
  const features = rows([3, 0], [1, 0.1], [0, 1], [-1, 0.2]);
  it('takes the largest-L1 pivots, then for each pivot the tokens least similar to it', () => {
    expect(kept(select({ features, dims: [4, 2], budget: 3 }, { method: 'dart', pivots: 1 }))).toEqual([0, 2, 3]);
    expect(kept(select({ features, dims: [4, 2], budget: 2 }, { method: 'dart', pivots: 1 }))).toEqual([0, 3]);
    // two pivots (L1 3 and 1.2): the single remaining slot goes to the first pivot.
    expect(kept(select({ features, dims: [4, 2], budget: 3 }, { method: 'dart', pivots: 2 }))).toEqual([0, 2, 3]);
    // the default of 8 pivots is capped at the budget
    expect(kept(select({ features, dims: [4, 2], budget: 2 }, { method: 'dart' }))).toEqual([0, 3]);
  });
});

describe('cdpruner', () => {
  it('prefers a relevant but different token over a duplicate of a picked one', () => {
    // q = [1, 0.5, 0.5, 0] (+ 2.5e-7): token 1 duplicates token 0, token 2 is as relevant and different.
    const features = rows([1, 0], [1, 0], [0, 1], [0, 0]);
    expect(kept(select({ features, dims: [4, 2], importance: [4, 2, 2, 0], budget: 2 }, { method: 'cdpruner' }))).toEqual([0, 2]);
  });
  it('fills by weight once the residuals vanish (role fill)', () => {
    const features = rows([1, 0], [1, 0], [0, 1]);
    // q = [1.0000005, 0.5000005, 5e-7]: after token 0, token 1 has residual 0 and token 2 has 2.5e-13 <= 1e-10.
    const s = select({ features, dims: [3, 2], importance: [3, 2, 1], budget: 2 }, { method: 'cdpruner' });
    expect(kept(s)).toEqual([0, 1]);
    expect(roles(s)).toEqual([1, 2]);
  });
  it('uses w = exp(θ·q / (2(1 − θ))) with the theta option', () => {
    const features = rows([1, 0], [1, 0], [0, 1]);
    const s = select({ features, dims: [3, 2], importance: [3, 2, 1], budget: 2 }, { method: 'cdpruner', theta: 0.5 });
    expect(kept(s)).toEqual([0, 2]);
    expect(s.scores![2]).toBeCloseTo(Math.exp((0.5 * 5e-7) / 1), 6);
  });
  it('fills everything by weight when every feature row is zero', () => {
    const s = select({ features: zeros(6), dims: [3, 2], importance: [1, 3, 2], budget: 2 }, { method: 'cdpruner' });
    expect(kept(s)).toEqual([1, 2]);
    expect(roles(s)).toEqual([2, 2]);
  });
});

describe('visionzip', () => {
  it('keeps round(54/64·n) dominant tokens and merges the rest into every-k-th targets by similarity', () => {
    const dominant = Array.from({ length: 8 }, () => [5, 5]);
    const features = rows(...dominant, [1, 0], [1, 0.1], [0.1, 1], [0, 1], [0.2, 1], [1, 0.3]);
    const importance = [14, 13, 12, 11, 10, 9, 8, 7, 1, 1, 1, 1, 1, 1];
    const s = select({ features, dims: [14, 2], importance, budget: 10 }, { method: 'visionzip' });
    // dominant = round(8.4375) = 8 tokens 0..7; rest = 8..13, 2 contextual, step 3 -> targets 8 and 11.
    expect(kept(s)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 11]);
    const merged = Array.from(s.features!);
    expect(merged.slice(0, 16)).toEqual(Array(16).fill(5));
    // Contextual feature = target + mean of the non-targets assigned to it (VisionZip's
    // contextual_tokens = target_hidden + aggregated_hidden), not the mean of the whole group.
    // Target 8 [1, 0] gets 9 [1, 0.1] and 13 [1, 0.3]: [1, 0] + [1, 0.2] = [2, 0.2].
    expect(merged[16]).toBeCloseTo(2, 6);
    expect(merged[17]).toBeCloseTo(0.2, 6);
    // Target 11 [0, 1] gets 10 [0.1, 1] and 12 [0.2, 1]: [0, 1] + [0.15, 1] = [0.15, 2].
    expect(merged[18]).toBeCloseTo(0.15, 6);
    expect(merged[19]).toBeCloseTo(2, 6);
  });
  it('gives a target that no token joins its own feature (count clamped to 1, empty sum)', () => {
    // dominant = round(54/64·4) = 3 (tokens 0..2); rest = 3..5, 1 contextual, step 3 -> target 3.
    // Tokens 4 and 5 both join target 3, so the merged feature is [1, 2] + mean([3, 4], [5, 6]) = [5, 7].
    const s = select({ features: rows([9, 9], [8, 8], [7, 7], [1, 2], [3, 4], [5, 6]), dims: [6, 2], importance: [6, 5, 4, 1, 1, 1], budget: 4 }, { method: 'visionzip' });
    expect(kept(s)).toEqual([0, 1, 2, 3]);
    expect(Array.from(s.features!)).toEqual([9, 9, 8, 8, 7, 7, 5, 7]);
    // dominant = round(54/64·10) = 8 (tokens 0..7); rest = 8..10, 2 contextual, step 1 -> targets 8 and 9.
    // Token 10 [0.1, 1] joins target 9 [0, 1]; target 8 [1, 0] gets nobody and keeps its own feature.
    const dominant = Array.from({ length: 8 }, () => [5, 5]);
    const t = select({ features: rows(...dominant, [1, 0], [0, 1], [0.1, 1]), dims: [11, 2], importance: [9, 9, 9, 9, 9, 9, 9, 9, 1, 1, 1], budget: 10 }, { method: 'visionzip' });
    expect(kept(t)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const merged = Array.from(t.features!).slice(16);
    expect(merged[0]).toBe(1);
    expect(merged[1]).toBe(0);
    expect(merged[2]).toBeCloseTo(0.1, 6);
    expect(merged[3]).toBe(2);
  });
  it('returns the original features when n = N', () => {
    const g = seeded(1);
    const features = Float32Array.from({ length: 12 }, g.coarse);
    const s = select({ features, dims: [6, 2], importance: [1, 2, 3, 4, 5, 6], budget: 6 }, { method: 'visionzip' });
    expect(kept(s)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(s.features!)).toEqual(Array.from(features));
  });
});

describe('divprune matches a naive all-pairs version', () => {
  it('on 60 seeded cases, including N not a multiple of the 4×4 block', () => {
    for (let seed = 0; seed < 60; seed++) {
      const g = seeded(100 + seed);
      const tokens = g.int(1, 23);
      const dim = g.int(1, 6);
      const features = Float32Array.from({ length: tokens * dim }, () => g.next() * 2 - 1);
      const budget = g.int(1, tokens);
      const row = (i: number) => Array.from(features.subarray(i * dim, (i + 1) * dim));
      const cosine = (i: number, j: number) => {
        const a = row(i), b = row(j);
        const dot = a.reduce((s, x, d) => s + x * b[d], 0);
        const n = Math.hypot(...a) * Math.hypot(...b);
        return n === 0 ? 0 : dot / n;
      };
      const nearest = [...Array(tokens).keys()].map((i) => Math.min(...[...Array(tokens).keys()].filter((j) => j !== i).map((j) => 1 - cosine(i, j))));
      const picks = [nearest.indexOf(Math.max(...nearest))];
      while (picks.length < budget) {
        let best = -1, bestDistance = -Infinity;
        for (let j = 0; j < tokens; j++) {
          if (picks.includes(j)) continue;
          const distance = Math.min(...picks.map((i) => 1 - cosine(i, j)));
          if (distance > bestDistance + 1e-12) { best = j; bestDistance = distance; }
        }
        picks.push(best);
      }
      expect({ seed, keep: kept(select({ features, dims: [tokens, dim], budget }, { method: 'divprune' })) }).toEqual({ seed, keep: picks.sort((a, b) => a - b) });
    }
  });
});
