import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imagePatchFeatures } from '../../src/visualize/image-features.js';

/** 64×64 grey image with a red square in the top-left quadrant and a blue one in the bottom-right. */
async function twoSquares(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="#808080"/>
    <rect x="0" y="0" width="16" height="16" fill="#dc2828"/><rect x="48" y="48" width="16" height="16" fill="#2850d2"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

describe('imagePatchFeatures', () => {
  it('returns standardised features, importance and the grid for rows × cols patches', async () => {
    const result = await imagePatchFeatures(await twoSquares(), { rows: 4, cols: 4, patchSize: 8 });
    expect(result.dims).toEqual([16, 12]);
    expect(result.features).toHaveLength(16 * 12);
    expect(result.importance).toHaveLength(16);
    expect(result.grid).toEqual({ rows: 4, cols: 4 });
    for (let k = 0; k < 12; k++) {
      let mean = 0;
      for (let t = 0; t < 16; t++) mean += result.features[t * 12 + k]! / 16;
      expect(Math.abs(mean)).toBeLessThan(1e-5);
    }
  });

  it('ranks distinct patches above the plain background', async () => {
    const { importance } = await imagePatchFeatures(await twoSquares(), { rows: 4, cols: 4, patchSize: 8 });
    const background = importance[5]!;
    expect(importance[0]!).toBeGreaterThan(background);
    expect(importance[15]!).toBeGreaterThan(background);
  });

  it('follows colour words in the prompt', async () => {
    const image = await twoSquares();
    const red = await imagePatchFeatures(image, { rows: 4, cols: 4, patchSize: 8, prompt: 'Is there a RED square?' });
    const blue = await imagePatchFeatures(image, { rows: 4, cols: 4, patchSize: 8, prompt: 'where is the blue one' });
    expect(red.colourWords).toEqual(['red']);
    expect(red.importance[0]!).toBeGreaterThan(red.importance[15]!);
    expect(blue.importance[15]!).toBeGreaterThan(blue.importance[0]!);
  });

  it('gives similar patches similar features (cosine) and different ones different features', async () => {
    const { features } = await imagePatchFeatures(await twoSquares(), { rows: 4, cols: 4, patchSize: 8 });
    const row = (t: number) => features.subarray(t * 12, t * 12 + 12);
    const cosine = (a: Float32Array, b: Float32Array) => {
      let dot = 0, na = 0, nb = 0;
      for (let k = 0; k < a.length; k++) { dot += a[k]! * b[k]!; na += a[k]! ** 2; nb += b[k]! ** 2; }
      return dot / Math.sqrt(na * nb);
    };
    expect(cosine(row(5), row(6))).toBeGreaterThan(0.99); // two background patches
    expect(cosine(row(0), row(15))).toBeLessThan(0.5); // red vs blue
  });

  it('rejects a bad grid naming the field', async () => {
    await expect(imagePatchFeatures(await twoSquares(), { rows: 0 })).rejects.toThrow(/^rows:/);
    await expect(imagePatchFeatures(Buffer.from('nope'))).rejects.toThrow(/^image:/);
  });
});
