import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { renderOverlay, renderOverlayWithLayout } from '../../src/visualize/overlay.js';

/** A flat grey PNG, so that every pixel difference comes from the overlay. */
async function greyImage(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
}

async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return (x: number, y: number) => {
    const o = (Math.round(y) * info.width + Math.round(x)) * info.channels;
    return [data[o]!, data[o + 1]!, data[o + 2]!] as const;
  };
}

const grid = { rows: 4, cols: 4 };

describe('renderOverlay', () => {
  it('returns a PNG with one panel per method and heat map, side by side', async () => {
    const image = await greyImage(100, 50);
    const png = await renderOverlay({
      image,
      tokens: 16,
      grid,
      panels: [
        { label: 'd2pruner', keep: [0, 5], roles: [0, 1] },
        { label: 'fastv', keep: [1, 2, 3] },
        { label: 'divprune', keep: [15] },
      ],
      heatmaps: [{ label: 'prior', values: Array.from({ length: 16 }, (_, i) => i) }],
      panelWidth: 200,
    });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const meta = await sharp(png).metadata();
    // margin 14 + 4 × (200 + 14); margin + caption 48 + image 200·50/100 + margin
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(14 + 4 * 214);
    expect(meta.height).toBe(14 + 48 + 100 + 14);
  });

  it('dims dropped patches and leaves kept ones at their original brightness', async () => {
    const { png, layout } = await renderOverlayWithLayout({
      image: await greyImage(64, 64),
      tokens: 16,
      grid,
      panels: [{ label: 'fastv', keep: [0, 5, 10] }],
      panelWidth: 256,
    });
    expect(layout.panels).toHaveLength(1);
    const at = await pixels(png);
    const centre = (token: number) => {
      const cell = layout.cells[0]![token]!;
      return at(cell.left + cell.width / 2, cell.top + cell.height / 2);
    };
    for (const kept of [0, 5, 10]) expect(centre(kept)).toEqual([128, 128, 128]);
    for (const dropped of [1, 4, 15]) {
      const [r, g, b] = centre(dropped);
      expect(r).toBeLessThan(60); // 128 · (1 − 0.62) ≈ 49
      expect(r).toBe(g);
      expect(g).toBe(b);
    }
  });

  it('outlines pivots, MIS picks and fill tokens in different colours', async () => {
    const { png, layout } = await renderOverlayWithLayout({
      image: await greyImage(64, 64),
      tokens: 16,
      grid,
      panels: [{ label: 'd2pruner', keep: [0, 6, 9], roles: [0, 1, 2] }],
      panelWidth: 256,
    });
    const at = await pixels(png);
    const edge = (token: number) => {
      const cell = layout.cells[0]![token]!;
      return at(cell.left + 1, cell.top + cell.height / 2); // on the outline: inset 1 px, 2 px wide
    };
    const [pivot, mis, fill] = [edge(0), edge(6), edge(9)];
    expect(pivot[0]).toBeGreaterThan(200); // orange
    expect(pivot[2]).toBeLessThan(60);
    expect(mis[2]).toBeGreaterThan(200); // cyan
    expect(mis[0]).toBeLessThan(60);
    expect(fill[0]).toBeGreaterThan(200); // pink
    expect(fill[2]).toBeGreaterThan(120);
  });

  it('draws a heat map whose high values are brighter than its low ones', async () => {
    const values = Array.from({ length: 16 }, (_, i) => (i === 3 ? 10 : 0));
    const { png, layout } = await renderOverlayWithLayout({ image: await greyImage(64, 64), tokens: 16, grid, panels: [], heatmaps: [{ label: 'prior', values }], panelWidth: 128 });
    const at = await pixels(png);
    const centre = (token: number) => {
      const cell = layout.cells[0]![token]!;
      return at(cell.left + cell.width / 2, cell.top + cell.height / 2);
    };
    expect(centre(3)[1]).toBeGreaterThan(centre(0)[1] + 80);
  });

  it('draws tiles on the image regions they cover, and an overlapping global tile as an inset below', async () => {
    const tiles = [0, 1, 2, 3, 4].map((t) => ({ start: t * 4, rows: 2, cols: 2 }));
    const half = 0.5;
    const regions = [
      { left: 0, top: 0, width: half, height: half },
      { left: half, top: 0, width: half, height: half },
      { left: 0, top: half, width: half, height: half },
      { left: half, top: half, width: half, height: half },
      { left: 0, top: 0, width: 1, height: 1 },
    ];
    const { png, layout } = await renderOverlayWithLayout({
      image: await greyImage(80, 80),
      tokens: 20,
      grid: { tiles },
      regions,
      panels: [{ label: 'd2pruner', keep: [0, 19] }],
      panelWidth: 200,
    });
    const cells = layout.cells[0]!;
    const panel = layout.panels[0]!;
    // Token 4 = tile 1's first cell: top-left of the top-right quadrant, a quarter of the image wide.
    expect(cells[4]!.left).toBeCloseTo(panel.left + 100);
    expect(cells[4]!.width).toBeCloseTo(50);
    // Tile 5 (the whole image) is an inset below the 200-px main image.
    expect(cells[16]!.top).toBeGreaterThanOrEqual(panel.top + 200);
    expect(cells[19]!.top + cells[19]!.height).toBeCloseTo(panel.top + panel.height);
    expect((await sharp(png).metadata()).height).toBe(14 + 48 + panel.height + 14);
  });

  it('rejects bad panels, regions and images naming the field', async () => {
    const image = await greyImage(8, 8);
    await expect(renderOverlay({ image, tokens: 16, grid, panels: [{ label: 'x', keep: [16] }] })).rejects.toThrow(/^panels\[0\]\.keep\[0\]:/);
    await expect(renderOverlay({ image, tokens: 16, grid, panels: [{ label: 'x', keep: [1, 2], roles: [0] }] })).rejects.toThrow(/^panels\[0\]\.roles:/);
    await expect(renderOverlay({ image, tokens: 16, grid, regions: [], panels: [{ label: 'x', keep: [1] }] })).rejects.toThrow(/^regions:/);
    await expect(renderOverlay({ image, tokens: 16, grid: { rows: 5, cols: 5 }, panels: [{ label: 'x', keep: [1] }] })).rejects.toThrow(ValidationError);
    await expect(renderOverlay({ image: Buffer.from('not an image'), tokens: 16, grid, panels: [{ label: 'x', keep: [1] }] })).rejects.toThrow(/^image:/);
    await expect(renderOverlay({ image, tokens: 16, grid, panels: [], heatmaps: [{ label: 'p', values: [1] }] })).rejects.toThrow(/^heatmaps\[0\]\.values:/);
  });

  it('draws every caption whole within its panel and says each count once', async () => {
    const label = 'd2pruner:alpha=0.5,pivotRatio=0.9,threshold=0.85';
    const { layout } = await renderOverlayWithLayout({
      image: await greyImage(64, 64),
      tokens: 16,
      grid,
      panelWidth: 128,
      panels: [{ label, keep: [0, 1, 2, 5], roles: [0, 0, 1, 2] }, { label: 'fastv', keep: [3, 4] }],
      heatmaps: [{ label: 'positional prior (calibrated on 1,000 scenes)', values: Array.from({ length: 16 }, (_, i) => i) }],
    });
    expect(layout.captions.map((c) => c.label)).toEqual([label, 'fastv', 'positional prior (calibrated on 1,000 scenes)']);
    expect(layout.captions.map((c) => c.legend)).toEqual([['2 pivots', '1 MIS', '1 fill', '12 dropped'], ['2 kept', '14 dropped'], ['0.000 – 15.0']]);
    for (const caption of layout.captions) expect(caption.width).toBeLessThanOrEqual(128 + 1e-9);
  });

  it('bounds the output: images beyond 10:1 and overlays beyond 64 megapixels are refused', async () => {
    const panels = [{ label: 'x', keep: [1] }];
    await expect(renderOverlay({ image: await greyImage(3, 2000), tokens: 16, grid, panels })).rejects.toThrow(
      /^image \(bytes\): has an aspect ratio of 666\.7:1; overlays draw images up to 10:1 .*\(got "3×2000 pixels"\)/,
    );
    await expect(renderOverlay({ image: await greyImage(2000, 3), tokens: 16, grid, panels })).rejects.toThrow(/aspect ratio of 666\.7:1/);
    // 10:1 is still drawn.
    const tallest = await renderOverlay({ image: await greyImage(10, 100), tokens: 16, grid, panels, panelWidth: 64 });
    expect((await sharp(tallest).metadata()).height).toBe(14 + 48 + 640 + 14);
    const many = Array.from({ length: 20 }, () => ({ label: 'x', keep: [1] }));
    await expect(renderOverlay({ image: await greyImage(10, 100), tokens: 16, grid, panels: many, panelWidth: 4096 })).rejects.toThrow(
      /^panelWidth: with 20 panels makes a 82214×41036 overlay, more than 64 megapixels/,
    );
  });
});
