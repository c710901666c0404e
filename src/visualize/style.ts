/** Colours of the kept-token overlays (shared by the sharp renderer and the browser demo's canvas). */
export const overlayStyle = Object.freeze({
  /** Outline of D2Pruner's pivots (top of the debiased score). */
  pivot: '#ff8c00',
  /** Outline of MIS picks (the diversity part). */
  mis: '#00d0ff',
  /** Outline of top-up fill tokens. */
  fill: '#ff3da5',
  /** Outline of kept tokens of methods without roles. */
  kept: '#b6ff00',
  /** Opacity of the black veil over dropped tokens. */
  dropOpacity: 0.62,
  background: '#ffffff',
  text: '#1a1a1a',
  muted: '#5f6368',
  font: 'DejaVu Sans, Liberation Sans, Arial, sans-serif',
});
