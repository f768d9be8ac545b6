/**
 * The bias stage inside the audit: MMD-critic prototypes and criticisms per predicted class over
 * the audit's feature store, group findings with `--groups`, the mean saliency of each class's
 * prototypes, and one picture per class (its prototypes, criticisms and mean saliency) as an asset.
 *
 * @example
 * ```ts
 * import type { DataSource } from "../data/types.ts";
 * import type { Manifest } from "../model/manifest.ts";
 * import { AssetWriter } from "./assets.ts";
 * import type { AuditContext } from "./gpu_batch.ts";
 * import type { AuditResults } from "./run_audit.ts";
 * declare const ctx: AuditContext, source: DataSource, results: AuditResults, manifest: Manifest;
 * const settings: BiasSettings = { prototypes: 8, criticisms: 4, method: "gradient", seed: 0 };
 * const assets = new AssetWriter("audit-report");
 * const bias = await biasAudit(ctx, source, results.features!, manifest.classes, settings, assets);
 * console.log(bias.classes.filter((c) => c.flagged).map((c) => c.name));
 * ```
 */
import { runBiasStage } from "../bias/bias_stage.ts";
import { runCounterfactual } from "../bias/counterfactual.ts";
import type { CounterfactualSpec } from "../schema/counterfactual.ts";
import type { Groups } from "../bias/groups.ts";
import { GRID_CELL, prototypeGrid } from "../bias/prototype_grid.ts";
import { gridPicture, imageTile } from "../explain/image_grid.ts";
import type { BiasReport } from "../schema/bias.ts";
import type { DataSource } from "../data/types.ts";
import type { FeatureTable } from "../explain/features.ts";
import type { SaliencyMethod, SaliencyOptions } from "../explain/saliency.ts";
import type { AssetWriter } from "./assets.ts";
import { gatherImages } from "./gather.ts";
import type { AuditContext } from "./gpu_batch.ts";
import type { StoredFeatures } from "./feature_store.ts";
import { sizeOf } from "../io/size_of.ts";

export interface BiasSettings {
  prototypes: number;
  criticisms: number;
  groups?: Groups;
  /** The counterfactual test's edit and class. */
  counterfactual?: CounterfactualSpec;
  /** Saliency method of the mean prototype saliency. */
  method: SaliencyMethod;
  /** Its layer (Grad-CAM) or patch (occlusion). */
  saliencyOptions?: Pick<SaliencyOptions, "camLayer" | "occlusion">;
  seed: number;
  /** What the audit's feature store kept and where, for the report's settings. */
  store?: StoredFeatures | null;
}

/** Runs the bias stage over the feature store and writes each class's picture. */
export async function biasAudit(
  ctx: AuditContext,
  source: DataSource,
  table: FeatureTable,
  classNames: string[],
  settings: BiasSettings,
  assets: AssetWriter,
): Promise<BiasReport> {
  const images = (indices: number[]) => gatherImages(source, indices, ctx.range);
  const report = await runBiasStage(ctx.exec.gpu, {
    table,
    classNames,
    groups: settings.groups,
    saliency: {
      exec: ctx.exec,
      images,
      options: { ...settings.saliencyOptions, method: settings.method, inputRange: ctx.range },
    },
  }, { prototypes: settings.prototypes, criticisms: settings.criticisms, seed: settings.seed });
  if (settings.store) report.settings.featureStore = storeSettings(settings.store);
  if (settings.counterfactual) {
    const { report: test, flipped } = await runCounterfactual(ctx.exec, {
      spec: settings.counterfactual,
      classNames,
      table,
      images,
      range: ctx.range,
      shape: source.shape,
      seed: settings.seed,
    });
    report.counterfactual = test;
    if (test.examples.length > 0) {
      const per = sizeOf(source.shape);
      const row = test.examples.map((_, i) =>
        imageTile(flipped.subarray(i * per, (i + 1) * per), source.shape, ctx.range)
      );
      test.grid = await assets.picture("counterfactual", gridPicture([row], { cell: GRID_CELL }));
    }
  }
  // Every class's pictures from one more pass over the source, not one per class.
  const picks = report.classes.flatMap((c) =>
    [...c.prototypes, ...c.criticisms, ...(c.slices ?? []).flatMap((s) => s.prototypes)].map((e) => e.index)
  );
  const pixels = await images(picks);
  const per = sizeOf(source.shape);
  const slot = new Map(picks.map((index, i) => [index, i]));
  const picked = (indices: number[]) => {
    const out = new Float32Array(indices.length * per);
    indices.forEach((index, i) =>
      out.set(pixels.subarray(slot.get(index)! * per, (slot.get(index)! + 1) * per), i * per)
    );
    return Promise.resolve(out);
  };
  for (const entry of report.classes) {
    if (entry.prototypes.length === 0) continue;
    const grid = await prototypeGrid([entry], picked, source.shape, { range: ctx.range, saliency: true });
    entry.grid = await assets.picture(`class-${entry.label}`, grid);
    for (const [i, slice] of (entry.slices ?? []).entries()) {
      const row = { prototypes: slice.prototypes, criticisms: [] };
      const sliceGrid = await prototypeGrid([row], picked, source.shape, { range: ctx.range });
      slice.grid = await assets.picture(`class-${entry.label}-slice-${i + 1}`, sliceGrid);
    }
  }
  return report;
}

/** The store's plan and outcome as the report's settings record them. */
function storeSettings(store: StoredFeatures): NonNullable<BiasReport["settings"]["featureStore"]> {
  const mib = (bytes: number) => bytes / 2 ** 20;
  return {
    rowsPerClass: store.rowsPerClass,
    featureWidth: store.width,
    classes: store.classes,
    maxRows: store.rows,
    maxMb: mib(store.bytes),
    budgetMb: mib(store.budgetBytes),
    spilled: store.spilled,
    keptRows: store.keptRows,
    peakHeldMb: mib(store.peakHeldBytes),
    multiplyAddsBound: store.multiplyAdds,
  };
}
