/**
 * Applies a counterfactual edit (pipeline/schema/counterfactual.ts) to a CHW image on the [0, 1]
 * data scale: a constant patch (the planted marker is one), a region copied from another image at
 * the same place, or a per-channel colour transform.
 *
 * @example
 * ```ts
 * const image = new Float32Array(28 * 28);
 * applyEdit(image, [1, 28, 28], { patch: { rows: [1, 4], columns: [23, 26], value: 1 } });
 * ```
 */
import type { CounterfactualEdit } from "../schema/counterfactual.ts";

const channelValue = (v: number | number[], c: number) => (typeof v === "number" ? v : v[Math.min(c, v.length - 1)]);

/**
 * Edits `image` (CHW, [0, 1]) in place; patch and copy cells past the image's edge are left out.
 * A copy edit takes its pixels from `source` (the image named by its `index`, same shape and scale).
 */
export function applyEdit(
  image: Float32Array,
  shape: readonly number[],
  edit: CounterfactualEdit,
  source?: Float32Array,
): void {
  const [channels, height, width] = shape;
  const region = edit.patch ?? edit.copy;
  if (region) {
    if (edit.copy && !source) throw new Error("edit: a copy edit needs its source image");
    const { rows, columns } = region;
    for (let c = 0; c < channels; c++) {
      for (let y = rows[0]; y <= Math.min(rows[1], height - 1); y++) {
        for (let x = columns[0]; x <= Math.min(columns[1], width - 1); x++) {
          const at = (c * height + y) * width + x;
          image[at] = edit.patch ? channelValue(edit.patch.value, c) : source![at];
        }
      }
    }
    return;
  }
  if (!edit.colour) return;
  const plane = height * width;
  for (let c = 0; c < channels; c++) {
    const scale = channelValue(edit.colour.scale, c), shift = channelValue(edit.colour.shift, c);
    for (let i = c * plane; i < (c + 1) * plane; i++) image[i] = Math.min(1, Math.max(0, scale * image[i] + shift));
  }
}
