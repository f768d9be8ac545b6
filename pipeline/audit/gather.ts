/**
 * Images by data index, after the fact: the report shows a few dozen images chosen only once the
 * whole set is seen (the most confident mistakes, the prototypes), so instead of keeping every
 * image the source is streamed once more and only the wanted ones are kept.
 *
 * @example
 * ```ts
 * import { openDataSource } from "../data/mod.ts";
 * const source = await openDataSource("mnist");
 * const images = await gatherImages(source, [12, 7], [0, 1]); // NCHW, in the order asked: 2 x 784 values
 * ```
 */
import type { DataSource } from "../data/types.ts";
import { copyIntoRange } from "./batches.ts";
import { sizeOf } from "../io/size_of.ts";

/** The images at `indices` (in that order, repeats allowed), NCHW, mapped from [0, 1] onto `range`. */
export async function gatherImages(
  source: DataSource,
  indices: readonly number[],
  range: readonly [number, number],
): Promise<Float32Array> {
  const per = sizeOf(source.shape);
  const out = new Float32Array(indices.length * per);
  const wanted = new Map<number, number[]>();
  indices.forEach((index, i) => wanted.set(index, [...(wanted.get(index) ?? []), i]));
  for await (const example of source.examples()) {
    const slots = wanted.get(example.index);
    if (!slots) continue;
    for (const slot of slots) copyIntoRange(example.image, range, out, slot * per);
    wanted.delete(example.index);
    if (wanted.size === 0) break;
  }
  if (wanted.size > 0) throw new RangeError(`gatherImages: ${source.name} has no example ${[...wanted.keys()][0]}`);
  return out;
}
