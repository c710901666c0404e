import type { Grid } from '../core/types.js';

/** The part of the image a tile covers, as fractions of the image's width and height (0…1). */
export interface TileRegion {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** How a processor mapped the image onto its tiles, as far as the overlay needs to know. */
export interface ProcessorGeometry {
  /** Idefics3/SmolVLM image splitting: crops per column and per row (0 when the image was not split). */
  splitRows?: number;
  splitCols?: number;
  /** True when the processor centre-crops a square (CLIP-style LLaVA processors). */
  centerCrop?: boolean;
  /** Original image size in pixels. */
  width: number;
  height: number;
}

/**
 * The image region each tile of `grid` covers, for {@link renderOverlay}'s `regions` (pure; browser-safe):
 * Idefics3/SmolVLM split the image into rows×cols crops (row-major) followed by a global view of the whole
 * image; a centre-cropping processor covers only the central square; otherwise the whole image (undefined).
 */
export function tileRegions(grid: Grid, geometry: ProcessorGeometry): TileRegion[] | undefined {
  const whole = { left: 0, top: 0, width: 1, height: 1 };
  const { width, height } = geometry;
  if ('tiles' in grid) {
    const rows = geometry.splitRows ?? 0;
    const cols = geometry.splitCols ?? 0;
    if (rows > 0 && cols > 0 && grid.tiles.length === rows * cols + 1) {
      const crops = Array.from({ length: rows * cols }, (_, k) => ({
        left: (k % cols) / cols,
        top: Math.floor(k / cols) / rows,
        width: 1 / cols,
        height: 1 / rows,
      }));
      return [...crops, whole];
    }
    return undefined;
  }
  if (geometry.centerCrop && width !== height && width > 0 && height > 0) {
    const side = Math.min(width, height);
    return [{ left: (width - side) / 2 / width, top: (height - side) / 2 / height, width: side / width, height: side / height }];
  }
  return undefined;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- transformers.js processor outputs are untyped */
/** Reads {@link ProcessorGeometry} from a transformers.js processor and its outputs for one image. */
export function processorGeometry(processor: any, inputs: any, width: number, height: number): ProcessorGeometry {
  const config = processor?.image_processor?.config ?? {};
  return {
    splitRows: Number(inputs?.rows?.[0]?.[0] ?? 0),
    splitCols: Number(inputs?.cols?.[0]?.[0] ?? 0),
    centerCrop: Boolean(config.do_center_crop),
    width,
    height,
  };
}
