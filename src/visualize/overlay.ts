import sharp, { type Metadata, type OverlayOptions as SharpOverlay, type Sharp } from 'sharp';
import { ValidationError } from '../core/errors.js';
import type { Grid, Tile } from '../core/types.js';
import { resolveGrid } from '../core/validate.js';
import { overlayStyle } from './style.js';
import type { TileRegion } from './regions.js';

/** One method's result to draw: which tokens it kept and, optionally, their roles. */
export interface OverlayPanel {
  /** Caption, usually the method name. */
  label: string;
  /** Kept token indices in [0, N). */
  keep: ArrayLike<number>;
  /** Role per kept token, parallel to `keep`: 0 pivot, 1 MIS (or plain "kept"), 2 fill. Default all 1. */
  roles?: ArrayLike<number>;
}

/** A per-token heat map (the positional prior, an importance map), drawn as its own panel. */
export interface OverlayHeatmap {
  label: string;
  /** One value per token (length N); only tokens with a grid position are drawn. */
  values: ArrayLike<number>;
}

export type { TileRegion };

/** Input of {@link renderOverlay}. */
export interface OverlayOptions {
  /** The image: a file path or encoded bytes (anything sharp reads). */
  image: string | Buffer | Uint8Array;
  /** Number of visual tokens N. */
  tokens: number;
  /** Token layout: one `rows × cols` grid over the whole image, or tiles (e.g. SmolVLM crops + global image). */
  grid: Grid;
  /**
   * For tiles: the image region each tile covers, parallel to `grid.tiles`. Default: the whole image.
   * Tiles are drawn on the main image in order; a tile whose region overlaps one already drawn (SmolVLM's
   * global image over its crops) gets its own small copy of the image below the main one.
   */
  regions?: readonly TileRegion[];
  /** One panel per method, drawn side by side. */
  panels: readonly OverlayPanel[];
  /** Extra heat-map panels after the method panels (the positional prior when one is used). */
  heatmaps?: readonly OverlayHeatmap[];
  /** A line of text above the panels (e.g. the prompt). */
  title?: string;
  /** Width of each panel's image in pixels. Default 320. */
  panelWidth?: number;
}

/** Where things were drawn, in pixels of the output PNG. */
export interface OverlayLayout {
  width: number;
  height: number;
  /** One per panel, method panels first, then heat maps: the image area of the panel. */
  panels: { left: number; top: number; width: number; height: number; label: string }[];
  /** Cell rectangle of every token with a position (undefined for tokens outside every tile), per panel. */
  cells: ({ left: number; top: number; width: number; height: number } | undefined)[][];
  /**
   * Per panel, the caption as drawn: the label in full (squeezed to the panel's width when long, never cut)
   * and the legend entries, each count said once; `width` is the widest line's drawn width in pixels.
   */
  captions: { label: string; legend: string[]; width: number }[];
}

export { overlayStyle } from './style.js';

const DEFAULTS = Object.freeze({ panelWidth: 320 });
/** Widest and tallest image drawn: a panel is at most 10 times taller than wide, or wider than tall. */
export const MAX_OVERLAY_ASPECT = 10;
/** Largest overlay PNG drawn, in pixels (width × height). */
export const MAX_OVERLAY_PIXELS = 64_000_000;

/**
 * Checks that an image of `width × height` pixels can be drawn in an overlay: its aspect ratio within
 * 1:{@link MAX_OVERLAY_ASPECT} … {@link MAX_OVERLAY_ASPECT}:1 (a 3×2000 picture would make each panel
 * 213,000 pixels tall).
 * @throws ValidationError naming `field`.
 */
export function checkOverlayImage(width: number, height: number, field = 'image'): void {
  const ratio = Math.max(width / height, height / width);
  if (!(ratio <= MAX_OVERLAY_ASPECT)) {
    throw new ValidationError(
      field,
      `${width}×${height} pixels`,
      `has an aspect ratio of ${ratio.toFixed(1)}:1; overlays draw images up to ${MAX_OVERLAY_ASPECT}:1 (crop or pad it first)`,
    );
  }
}
const MARGIN = 14;
const CAPTION = 48;
const TITLE = 30;
const INSET_GAP = 8;

interface Placement {
  tile: Tile;
  region: TileRegion;
  /** Inset index, or -1 when drawn on the main image. */
  inset: number;
}

/**
 * Draws which visual tokens each method kept, one panel per method side by side: the image with dropped
 * patches dimmed and kept ones outlined (pivots orange, MIS picks cyan, top-up fill pink; methods without
 * roles green), a caption with the method name and counts, and one heat-map panel per `heatmaps` entry.
 *
 * @returns PNG bytes.
 * @throws ValidationError naming the field for a bad image, grid, region, panel index or heat map.
 */
export async function renderOverlay(options: OverlayOptions): Promise<Buffer> {
  return (await renderOverlayWithLayout(options)).png;
}

/** {@link renderOverlay}, also returning where each panel and token cell was drawn (for tests and annotation). */
export async function renderOverlayWithLayout(options: OverlayOptions): Promise<{ png: Buffer; layout: OverlayLayout }> {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object { image, tokens, grid, panels, … }');
  const { tokens, panels } = options;
  if (!Number.isInteger(tokens) || tokens < 1) throw new ValidationError('tokens', tokens, 'must be a positive integer');
  resolveGrid(options.grid, tokens); // validates tiles: inside [0, N), not overlapping
  const panelWidth = options.panelWidth ?? DEFAULTS.panelWidth;
  if (!Number.isInteger(panelWidth) || panelWidth < 64 || panelWidth > 4096) {
    throw new ValidationError('panelWidth', panelWidth, 'must be an integer in [64, 4096]');
  }
  if (!Array.isArray(panels) || panels.length + (options.heatmaps?.length ?? 0) === 0) {
    throw new ValidationError('panels', panels, 'must hold at least one panel or heat map');
  }
  panels.forEach((panel, p) => checkPanel(panel, p, tokens));
  (options.heatmaps ?? []).forEach((heatmap, h) => {
    if (!heatmap || heatmap.values?.length !== tokens) {
      throw new ValidationError(`heatmaps[${h}].values`, heatmap?.values, `must hold N = ${tokens} values`);
    }
  });

  let source: Sharp;
  let meta: Metadata;
  try {
    source = sharp(options.image).rotate(); // honour EXIF orientation
    meta = await source.metadata();
  } catch (error) {
    throw new ValidationError('image', typeof options.image === 'string' ? options.image : 'bytes', `cannot be read as an image (${(error as Error).message})`);
  }
  const rotated = (meta.orientation ?? 1) >= 5;
  const imageW = (rotated ? meta.height : meta.width) ?? 1;
  const imageH = (rotated ? meta.width : meta.height) ?? 1;
  checkOverlayImage(imageW, imageH, typeof options.image === 'string' ? 'image' : 'image (bytes)');
  const flat = await source.flatten({ background: '#ffffff' }).toColourspace('srgb').png().toBuffer();

  const placements = placeTiles(options.grid, options.regions);
  const insetCount = placements.reduce((count, p) => Math.max(count, p.inset + 1), 0);
  const mainW = panelWidth;
  const mainH = Math.max(1, Math.round((panelWidth * imageH) / imageW));
  const insetW = insetCount > 0 ? Math.floor((panelWidth - INSET_GAP * (insetCount - 1)) / Math.max(insetCount, 2)) : 0;
  const insetH = insetCount > 0 ? Math.max(1, Math.round((insetW * imageH) / imageW)) : 0;
  const panelImageH = mainH + (insetCount > 0 ? INSET_GAP + insetH : 0);

  const allPanels = [
    ...panels.map((panel) => ({ kind: 'method' as const, panel })),
    ...(options.heatmaps ?? []).map((heatmap) => ({ kind: 'heatmap' as const, heatmap })),
  ];
  const titleH = options.title ? TITLE : 0;
  const width = MARGIN + allPanels.length * (panelWidth + MARGIN);
  const height = MARGIN + titleH + CAPTION + panelImageH + MARGIN;
  if (width * height > MAX_OVERLAY_PIXELS) {
    throw new ValidationError('panelWidth', panelWidth, `with ${allPanels.length} panels makes a ${width}×${height} overlay, more than ${MAX_OVERLAY_PIXELS / 1e6} megapixels; draw fewer or narrower panels`);
  }

  const layout: OverlayLayout = { width, height, panels: [], cells: [], captions: [] };
  const composites: SharpOverlay[] = [];
  const svg: string[] = [];
  if (options.title) {
    svg.push(text(MARGIN, MARGIN + 18, truncate(options.title, Math.floor((width - 2 * MARGIN) / 8)), 15, overlayStyle.text, 'bold'));
  }

  // Image pieces: the main image once per panel, and each inset's region.
  const mainPiece = await sharp(flat).resize(mainW, mainH, { fit: 'fill' }).png().toBuffer();
  const insetPieces = new Map<number, Buffer>();
  for (const placement of placements) {
    if (placement.inset < 0) continue;
    const r = placement.region;
    const extract = {
      left: Math.min(imageW - 1, Math.round(r.left * imageW)),
      top: Math.min(imageH - 1, Math.round(r.top * imageH)),
      width: Math.max(1, Math.round(r.width * imageW)),
      height: Math.max(1, Math.round(r.height * imageH)),
    };
    extract.width = Math.min(extract.width, imageW - extract.left);
    extract.height = Math.min(extract.height, imageH - extract.top);
    insetPieces.set(placement.inset, await sharp(flat).extract(extract).resize(insetW, insetH, { fit: 'fill' }).png().toBuffer());
  }

  allPanels.forEach((entry, index) => {
    const left = MARGIN + index * (panelWidth + MARGIN);
    const top = MARGIN + titleH + CAPTION;
    const label = entry.kind === 'method' ? entry.panel.label : entry.heatmap.label;
    layout.panels.push({ left, top, width: panelWidth, height: panelImageH, label });
    composites.push({ input: mainPiece, left, top });
    for (const [inset, piece] of insetPieces) {
      composites.push({ input: piece, left: left + inset * (insetW + INSET_GAP), top: top + mainH + INSET_GAP });
    }

    // Cell rectangle of every positioned token.
    const cells: OverlayLayout['cells'][number] = new Array(tokens).fill(undefined);
    for (const placement of placements) {
      const area =
        placement.inset < 0
          ? {
              left: left + placement.region.left * mainW,
              top: top + placement.region.top * mainH,
              width: placement.region.width * mainW,
              height: placement.region.height * mainH,
            }
          : { left: left + placement.inset * (insetW + INSET_GAP), top: top + mainH + INSET_GAP, width: insetW, height: insetH };
      const { start, rows, cols } = placement.tile;
      for (let k = 0; k < rows * cols; k++) {
        const row = Math.floor(k / cols);
        const col = k % cols;
        const x0 = area.left + (col * area.width) / cols;
        const y0 = area.top + (row * area.height) / rows;
        cells[start + k] = { left: x0, top: y0, width: area.width / cols, height: area.height / rows };
      }
    }
    layout.cells.push(cells);

    const caption = { label, legend: [] as string[], width: 0 };
    layout.captions.push(caption);
    if (entry.kind === 'method') svg.push(...methodPanelSvg(entry.panel, cells, left, top, panelWidth, tokens, caption));
    else svg.push(...heatmapPanelSvg(entry.heatmap, cells, left, top, panelWidth, caption));
    if (placements.length > 1) {
      // Tile borders, so the crops a tiled processor made are visible.
      for (const placement of placements) {
        const r = placement.region;
        const box =
          placement.inset < 0
            ? { x: left + r.left * mainW, y: top + r.top * mainH, w: r.width * mainW, h: r.height * mainH }
            : { x: left + placement.inset * (insetW + INSET_GAP), y: top + mainH + INSET_GAP, w: insetW, h: insetH };
        svg.push(`<rect x="${r2(box.x + 0.5)}" y="${r2(box.y + 0.5)}" width="${r2(box.w - 1)}" height="${r2(box.h - 1)}" fill="none" stroke="#ffffff" stroke-opacity="0.9" stroke-dasharray="5 3"/>`);
      }
    }
    for (const placement of placements) {
      if (placement.inset < 0) continue;
      const x = left + placement.inset * (insetW + INSET_GAP);
      const y = top + mainH + INSET_GAP;
      const r = placement.region;
      const whole = r.left === 0 && r.top === 0 && r.width === 1 && r.height === 1;
      const name = `tile ${placements.indexOf(placement) + 1}${whole ? ': whole image' : ''}`;
      svg.push(`<rect x="${x}" y="${y}" width="${name.length * 6.2 + 6}" height="14" fill="#fff" fill-opacity="0.85"/>`);
      svg.push(text(x + 3, y + 11, name, 10, overlayStyle.text));
    }
  });

  const overlay = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${overlayStyle.font}">${svg.join('')}</svg>`,
  );
  composites.push({ input: overlay, left: 0, top: 0 });
  const png = await sharp({ create: { width, height, channels: 3, background: overlayStyle.background } })
    .composite(composites)
    .png({ compressionLevel: 9, palette: true, colours: 256, dither: 0 })
    .toBuffer();
  return { png, layout };
}

function checkPanel(panel: OverlayPanel, p: number, tokens: number): void {
  if (!panel || typeof panel.label !== 'string') throw new ValidationError(`panels[${p}].label`, panel?.label, 'must be a string');
  const keep = panel.keep;
  if (!keep || typeof keep.length !== 'number') throw new ValidationError(`panels[${p}].keep`, keep, 'must be an array of token indices');
  for (let i = 0; i < keep.length; i++) {
    const token = keep[i]!;
    if (!Number.isInteger(token) || token < 0 || token >= tokens) {
      throw new ValidationError(`panels[${p}].keep[${i}]`, token, `must be a token index in [0, ${tokens})`);
    }
  }
  if (panel.roles !== undefined && panel.roles.length !== keep.length) {
    throw new ValidationError(`panels[${p}].roles`, panel.roles, `must be parallel to keep (length ${keep.length})`);
  }
}

function tilesOf(grid: Grid): Tile[] {
  return 'tiles' in grid ? grid.tiles.map((t) => ({ start: t.start ?? 0, rows: t.rows, cols: t.cols })) : [{ start: 0, rows: grid.rows, cols: grid.cols }];
}

/** Decides where each tile is drawn: on the main image, or (when it overlaps one drawn there) in an inset. */
function placeTiles(grid: Grid, regions: readonly TileRegion[] | undefined): Placement[] {
  const tiles = tilesOf(grid);
  if (regions !== undefined && regions.length !== tiles.length) {
    throw new ValidationError('regions', regions, `must hold one region per tile (${tiles.length})`);
  }
  const whole: TileRegion = { left: 0, top: 0, width: 1, height: 1 };
  const drawn: TileRegion[] = [];
  let insets = 0;
  return tiles.map((tile, t) => {
    const region = regions?.[t] ?? whole;
    checkRegion(region, t);
    const overlaps = drawn.some((d) => overlapArea(d, region) > 1e-6);
    if (overlaps) return { tile, region, inset: insets++ };
    drawn.push(region);
    return { tile, region, inset: -1 };
  });
}

function checkRegion(region: TileRegion, t: number): void {
  const ok =
    region &&
    [region.left, region.top, region.width, region.height].every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    region.left >= 0 &&
    region.top >= 0 &&
    region.width > 0 &&
    region.height > 0 &&
    region.left + region.width <= 1 + 1e-9 &&
    region.top + region.height <= 1 + 1e-9;
  if (!ok) throw new ValidationError(`regions[${t}]`, region, 'must be {left, top, width, height} inside the unit square');
}

function overlapArea(a: TileRegion, b: TileRegion): number {
  const w = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const h = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  return w > 0 && h > 0 ? w * h : 0;
}

type Caption = OverlayLayout['captions'][number];

/** Estimated drawn width of `content` at `size` px (sans-serif; bold glyphs are wider). */
function textWidth(content: string, size: number, weight: string): number {
  return content.length * size * (weight === 'bold' ? 0.62 : 0.56);
}

/** Where a label may break across two lines: after a separator, as near the middle as possible. */
function splitLabel(label: string): [string, string] | undefined {
  let best = -1;
  for (let i = 1; i < label.length - 1; i++) {
    if (/[\s,:;=/·-]/.test(label[i - 1]!) && (best < 0 || Math.abs(i - label.length / 2) < Math.abs(best - label.length / 2))) best = i;
  }
  return best < 0 ? undefined : [label.slice(0, best).trimEnd(), label.slice(best).trimStart()];
}

/**
 * A caption label drawn whole within `width` (never cut, never run into the next panel): at 15 px when it
 * fits, else smaller down to 11 px, else on two lines, else smaller still.
 */
function fittedLabel(x: number, bottom: number, label: string, width: number, colour: string): { svg: string; width: number } {
  const fit = (content: string, largest: number) => Math.min(largest, width / Math.max(1, textWidth(content, 1, 'bold')));
  const one = fit(label, 15);
  const halves = splitLabel(label);
  if (one >= 11 || !halves) return { svg: text(x, bottom, label, r2(one), colour, 'bold'), width: textWidth(label, one, 'bold') };
  const size = Math.min(fit(halves[0], 12), fit(halves[1], 12));
  const svg = text(x, bottom - size - 1, halves[0], r2(size), colour, 'bold') + text(x, bottom, halves[1], r2(size), colour, 'bold');
  return { svg, width: Math.max(textWidth(halves[0], size, 'bold'), textWidth(halves[1], size, 'bold')) };
}

function methodPanelSvg(panel: OverlayPanel, cells: OverlayLayout['cells'][number], left: number, top: number, width: number, tokens: number, caption: Caption): string[] {
  const out: string[] = [];
  const roleOf = new Int8Array(tokens).fill(-1);
  const counts = [0, 0, 0];
  for (let i = 0; i < panel.keep.length; i++) {
    const role = panel.roles ? panel.roles[i]! : 1;
    roleOf[panel.keep[i]!] = role === 0 || role === 2 ? role : 1;
    counts[roleOf[panel.keep[i]!]!]!++;
  }
  const hasRoles = counts[0]! > 0 || counts[2]! > 0;
  const colourOf = (role: number) => (role === 0 ? overlayStyle.pivot : role === 2 ? overlayStyle.fill : hasRoles ? overlayStyle.mis : overlayStyle.kept);

  // Dim dropped cells in one path (fast for thousands of tokens).
  const dim: string[] = [];
  const outlines: string[][] = [[], [], []];
  for (let token = 0; token < tokens; token++) {
    const cell = cells[token];
    if (!cell) continue;
    if (roleOf[token] === -1) {
      dim.push(`M${r2(cell.left)} ${r2(cell.top)}h${r2(cell.width)}v${r2(cell.height)}h${r2(-cell.width)}z`);
    } else {
      const inset = Math.min(1.25, cell.width / 10);
      outlines[roleOf[token]!]!.push(
        `M${r2(cell.left + inset)} ${r2(cell.top + inset)}h${r2(cell.width - 2 * inset)}v${r2(cell.height - 2 * inset)}h${r2(-(cell.width - 2 * inset))}z`,
      );
    }
  }
  if (dim.length) out.push(`<path d="${dim.join('')}" fill="#000" fill-opacity="${overlayStyle.dropOpacity}"/>`);
  const stroke = Math.max(1, Math.min(2.5, (cells.find(Boolean)?.width ?? 8) / 10));
  outlines.forEach((paths, role) => {
    if (paths.length) out.push(`<path d="${paths.join('')}" fill="none" stroke="${colourOf(role)}" stroke-width="${r2(stroke)}"/>`);
  });

  // Caption: the label, then a legend with the counts (each said once: "kept" only when there are no roles).
  const kept = panel.keep.length;
  const title = fittedLabel(left, top - 26, panel.label, width, overlayStyle.text);
  out.push(title.svg);
  const legend: [string, string][] = hasRoles
    ? [
        [overlayStyle.pivot, `${counts[0]} pivots`],
        [overlayStyle.mis, `${counts[1]} MIS`],
        ...(counts[2]! > 0 ? [[overlayStyle.fill, `${counts[2]} fill`] as [string, string]] : []),
      ]
    : [[overlayStyle.kept, `${kept} kept`]];
  legend.push(['#3c3c3c', `${tokens - kept} dropped`]);
  // Entries side by side; scaled down as a whole when they would run past the panel's edge.
  const natural = legend.reduce((sum, [, label]) => sum + 22 + label.length * 7, -7);
  const scale = Math.min(1, width / natural);
  let x = left;
  for (const [colour, label] of legend) {
    const box = 11 * scale;
    out.push(`<rect x="${r2(x + 0.5)}" y="${r2(top - 7.5 - box)}" width="${r2(box)}" height="${r2(box)}" fill="${colour}" stroke="#333" stroke-width="0.5"/>`);
    out.push(text(x + 15 * scale, top - 8, label, r2(12 * scale), overlayStyle.muted));
    x += (22 + label.length * 7) * scale;
  }
  caption.legend = legend.map(([, label]) => label);
  caption.width = Math.max(title.width, x - 7 * scale - left);
  return out;
}

function heatmapPanelSvg(heatmap: OverlayHeatmap, cells: OverlayLayout['cells'][number], left: number, top: number, width: number, caption: Caption): string[] {
  const out: string[] = ['<g fill-opacity="0.8" shape-rendering="crispEdges">'];
  let min = Infinity;
  let max = -Infinity;
  cells.forEach((cell, token) => {
    if (!cell) return;
    const v = heatmap.values[token]!;
    if (Number.isFinite(v)) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  });
  const span = max > min ? max - min : 1;
  cells.forEach((cell, token) => {
    if (!cell) return;
    const v = heatmap.values[token]!;
    const colour = Number.isFinite(v) ? viridis((v - min) / span) : '#808080';
    out.push(`<rect x="${r2(cell.left)}" y="${r2(cell.top)}" width="${r2(cell.width)}" height="${r2(cell.height)}" fill="${colour}"/>`);
  });
  out.push('</g>');
  const title = fittedLabel(left, top - 26, heatmap.label, width, overlayStyle.text);
  out.push(title.svg);
  // Colour bar from min to max.
  const barX = left;
  const barW = Math.min(120, width / 2);
  for (let i = 0; i < 24; i++) {
    out.push(`<rect x="${r2(barX + (i * barW) / 24)}" y="${top - 18}" width="${r2(barW / 24 + 0.4)}" height="10" fill="${viridis(i / 23)}"/>`);
  }
  const range = Number.isFinite(min) ? `${formatValue(min)} – ${formatValue(max)}` : 'no values';
  const rangeSize = Math.min(12, (width - barW - 6) / textWidth(range, 1, 'normal'));
  out.push(text(barX + barW + 6, top - 8, range, r2(rangeSize), overlayStyle.muted));
  caption.legend = [range];
  caption.width = Math.max(title.width, barW + 6 + textWidth(range, rangeSize, 'normal'));
  return out;
}

/** Viridis colour map, piecewise linear through 6 stops. */
function viridis(t: number): string {
  const stops = [
    [68, 1, 84],
    [65, 68, 135],
    [42, 120, 142],
    [34, 168, 132],
    [122, 209, 81],
    [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i]!.map((v, k) => Math.round(v + f * (stops[i + 1]![k]! - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function formatValue(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 1e4) ? v.toExponential(1) : v.toFixed(a < 1 ? 3 : 1);
}

function text(x: number, y: number, content: string, size: number | string, colour: string, weight = 'normal'): string {
  return `<text x="${r2(x)}" y="${r2(y)}" font-size="${size}" font-weight="${weight}" fill="${colour}">${escapeXml(content)}</text>`;
}

function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, Math.max(1, max - 1)) + '…' : s;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function r2(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}
