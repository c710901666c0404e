/** The kept-token overlay on a canvas: the browser twin of src/visualize/overlay.ts (same colours and rules). */
import type { Grid } from 'd2pruner';
import { overlayStyle, type TileRegion } from 'd2pruner/transformers';

export interface CanvasOverlay {
  image: CanvasImageSource & { width: number; height: number };
  tokens: number;
  grid: Grid;
  regions?: TileRegion[];
  keep: ArrayLike<number>;
  roles: ArrayLike<number>;
}

/**
 * Draws the image with dropped tokens dimmed and kept ones outlined by role. Tiles go on the image region
 * they cover; a tile overlapping one already drawn (SmolVLM's global view) is drawn as an inset below.
 * @returns counts per role, for the legend.
 */
export function drawOverlay(canvas: HTMLCanvasElement, overlay: CanvasOverlay): { pivot: number; mis: number; fill: number; dropped: number; hasRoles: boolean } {
  const tiles = 'tiles' in overlay.grid ? overlay.grid.tiles : [{ start: 0, rows: overlay.grid.rows, cols: overlay.grid.cols }];
  const whole = { left: 0, top: 0, width: 1, height: 1 };
  const drawn: TileRegion[] = [];
  const placement = tiles.map((tile, t) => {
    const region = overlay.regions?.[t] ?? whole;
    const overlaps = drawn.some((d) => Math.min(d.left + d.width, region.left + region.width) - Math.max(d.left, region.left) > 1e-6 && Math.min(d.top + d.height, region.top + region.height) - Math.max(d.top, region.top) > 1e-6);
    if (!overlaps) drawn.push(region);
    return { tile, region, inset: overlaps };
  });
  const insets = placement.filter((p) => p.inset).length;
  const width = 384;
  const mainH = Math.round((width * overlay.image.height) / overlay.image.width);
  const insetW = insets ? Math.floor((width - 8 * (insets - 1)) / Math.max(insets, 2)) : 0;
  const insetH = insets ? Math.round((insetW * overlay.image.height) / overlay.image.width) : 0;
  canvas.width = width;
  canvas.height = mainH + (insets ? 8 + insetH : 0);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fafafa';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(overlay.image, 0, 0, width, mainH);

  const role = new Int8Array(overlay.tokens).fill(-1);
  const counts = { pivot: 0, mis: 0, fill: 0, dropped: 0, hasRoles: false };
  for (let i = 0; i < overlay.keep.length; i++) {
    const r = overlay.roles[i] === 0 || overlay.roles[i] === 2 ? overlay.roles[i]! : 1;
    role[overlay.keep[i]!] = r;
    if (r === 0) counts.pivot++;
    else if (r === 2) counts.fill++;
    else counts.mis++;
  }
  counts.dropped = overlay.tokens - overlay.keep.length;
  counts.hasRoles = counts.pivot + counts.fill > 0;
  const colour = [overlayStyle.pivot, counts.hasRoles ? overlayStyle.mis : overlayStyle.kept, overlayStyle.fill];

  let insetIndex = 0;
  for (const { tile, region, inset } of placement) {
    let area;
    if (inset) {
      const left = insetIndex++ * (insetW + 8);
      area = { left, top: mainH + 8, width: insetW, height: insetH };
      const src = overlay.image;
      ctx.drawImage(src, region.left * src.width, region.top * src.height, region.width * src.width, region.height * src.height, area.left, area.top, area.width, area.height);
    } else {
      area = { left: region.left * width, top: region.top * mainH, width: region.width * width, height: region.height * mainH };
    }
    const cw = area.width / tile.cols;
    const ch = area.height / tile.rows;
    const line = Math.max(1, Math.min(2.5, cw / 10));
    for (let k = 0; k < tile.rows * tile.cols; k++) {
      const token = tile.start + k;
      const x = area.left + (k % tile.cols) * cw;
      const y = area.top + Math.floor(k / tile.cols) * ch;
      if (role[token] === -1) {
        ctx.fillStyle = `rgba(0,0,0,${overlayStyle.dropOpacity})`;
        ctx.fillRect(x, y, cw, ch);
      } else {
        ctx.strokeStyle = colour[role[token]!]!;
        ctx.lineWidth = line;
        ctx.strokeRect(x + line / 2 + 0.5, y + line / 2 + 0.5, cw - line - 1, ch - line - 1);
      }
    }
  }
  return counts;
}

/** One box to draw over the image, in pixels of `space` (the model's input size), with its legend label. */
export interface AnswerBox {
  box: readonly number[];
  colour: string;
  label: string;
  dashed?: boolean;
  /** Line width in canvas pixels (default 3): boxes drawn later get thinner ones, so equal boxes all show. */
  lineWidth?: number;
}

/** Draws the image with grounding boxes (the expected box and each answer's box) over it. */
export function drawAnswerBoxes(canvas: HTMLCanvasElement, image: CanvasImageSource & { width: number; height: number }, space: { width: number; height: number }, boxes: readonly AnswerBox[]): void {
  const width = 384;
  const height = Math.round((width * image.height) / image.width);
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image, 0, 0, width, height);
  const sx = width / space.width;
  const sy = height / space.height;
  for (const { box, colour, dashed, lineWidth = 3 } of boxes) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = lineWidth;
    ctx.setLineDash(dashed ? [6, 4] : []);
    ctx.strokeRect(box[0]! * sx, box[1]! * sy, (box[2]! - box[0]!) * sx, (box[3]! - box[1]!) * sy);
  }
  ctx.setLineDash([]);
}
