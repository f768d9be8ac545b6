/**
 * The faithfulness lines of the audit's summary table: the methods in their rank order, and each
 * metric's mean with its interval per method.
 *
 * @example
 * ```ts
 * import type { FaithfulnessReport } from "../schema/faithfulness.ts";
 * declare const faithfulness: FaithfulnessReport;
 * console.log(faithfulnessLines(faithfulness, 22).join("\n"));
 * ```
 */
import { FAITHFULNESS_METRICS, type FaithfulnessMetric, type FaithfulnessReport } from "../schema/faithfulness.ts";

/** The lines, the first labelled "faithfulness" and the others indented to `labelWidth`. */
export function faithfulnessLines(f: FaithfulnessReport, labelWidth: number): string[] {
  const ranked = f.methods.map((m) => `${m.rank} ${m.method}`).join(", ");
  const metrics = Object.entries(FAITHFULNESS_METRICS) as [FaithfulnessMetric, string][];
  const perMetric = metrics.map(([metric, better]) => {
    const values = f.methods.map((m) => {
      const v = m[metric];
      return `${m.method} ${v === null ? "-" : `${v.mean.toFixed(3)} [${v.lo.toFixed(3)}, ${v.hi.toFixed(3)}]`}`;
    });
    return `${metric} (${better} is better): ${values.join(", ")}`;
  });
  return [
    "faithfulness".padEnd(labelWidth) + `ranked on ${f.images} images: ${ranked}`,
    ...perMetric.map((line) => " ".repeat(labelWidth) + line),
  ];
}
