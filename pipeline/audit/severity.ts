/**
 * Hierarchy-aware figures of the mistakes, for deep hierarchies such as WordNet's:
 * - within depth d (d = 1 .. maxDepth - 1): the share of mistakes whose label and prediction share
 *   their ancestor at depth d, i.e. whose lowest common ancestor (LCA) is at depth d or deeper. The
 *   share never grows with d. Deeper than maxDepth - 1 no two different classes share an ancestor,
 *   so the list stops there (a flat hierarchy has none).
 * - severity (Bertinetto et al. 2020, "Making Better Mistakes"): the height of the LCA of label and
 *   prediction. Their trees are balanced; here leaves may lie at different depths, so the height is
 *   counted from the label: the edges from the label's leaf up to the LCA,
 *   `depth(label) - lcaDepth(label, prediction)` (`Hierarchy.lcaHeight`). It is 0 exactly for a
 *   right answer and at least 1 for a mistake; siblings are at severity 1. Reported as the mean and
 *   histogram over all mistakes, and per label class.
 *
 * @example
 * ```ts
 * import type { Hierarchy } from "../model/hierarchy.ts";
 * import type { ImagePrediction } from "./evaluate.ts";
 * declare const predictions: ImagePrediction[], hierarchy: Hierarchy;
 * const { depths, severity } = hierarchyFigures(predictions, hierarchy);
 * console.log(depths[0]?.share, severity.mean);
 * ```
 */
import type { Hierarchy } from "../model/hierarchy.ts";
import { type ImagePrediction, isCorrect } from "./evaluate.ts";
import type { MainAttack, RobustnessSummary } from "./robustness.ts";

/** Ancestors named per depth in the figures: the ones the most within-depth mistakes share. */
const EXAMPLES_PER_DEPTH = 3;

/** The mistakes that stay within one depth of the hierarchy. */
export interface DepthShare {
  depth: number;
  /** Mistakes whose label and prediction share their ancestor at this depth. */
  mistakesWithin: number;
  /** mistakesWithin / mistakes; null without mistakes. */
  share: number | null;
  /** The shared ancestors at this depth with the most mistakes within them, most first. */
  examples: { name: string; mistakes: number }[];
}

/** Mistake severity, overall and per label class. */
export interface Severity {
  mistakes: number;
  /** Mean LCA height over the mistakes; null without mistakes. */
  mean: number | null;
  /** histogram[h]: mistakes of severity h (h = 0 .. maxDepth; 0 stays empty). */
  histogram: number[];
  /** Label classes with at least one mistake, by class index. */
  perClass: { label: number; mistakes: number; mean: number }[];
}

/** What `hierarchyFigures` computes. */
export interface HierarchyFigures {
  /** The hierarchy's source and rule (see model/hierarchy.ts). */
  source: string;
  rule: string | null;
  depths: DepthShare[];
  severity: Severity;
}

/** A mistake's severity: the LCA height of label and prediction, from the label (see the module comment). */
export function mistakeSeverity(hierarchy: Hierarchy, label: number, predicted: number): number {
  return hierarchy.lcaHeight(label, predicted);
}

/** The within-depth shares and the severities of the top-1 mistakes among `predictions`. */
export function hierarchyFigures(predictions: readonly ImagePrediction[], hierarchy: Hierarchy): HierarchyFigures {
  const mistakes = predictions.filter((p) => !isCorrect(p)).map((p) => ({ label: p.label, predicted: p.top[0] }));
  const maxDepth = hierarchy.maxDepth;
  const depths = Array.from({ length: Math.max(0, maxDepth - 1) }, (_, k): DepthShare => {
    const depth = k + 1;
    const byAncestor = new Map<string, number>();
    let within = 0;
    for (const m of mistakes) {
      if (hierarchy.lcaDepth(m.label, m.predicted) < depth) continue;
      within++;
      const name = hierarchy.superclass(m.label, depth);
      byAncestor.set(name, (byAncestor.get(name) ?? 0) + 1);
    }
    const examples = [...byAncestor].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, EXAMPLES_PER_DEPTH).map(([name, count]) => ({ name, mistakes: count }));
    return { depth, mistakesWithin: within, share: mistakes.length > 0 ? within / mistakes.length : null, examples };
  });
  const histogram = new Array<number>(maxDepth + 1).fill(0);
  const perLabel = new Map<number, { mistakes: number; sum: number }>();
  let sum = 0;
  for (const m of mistakes) {
    const h = mistakeSeverity(hierarchy, m.label, m.predicted);
    histogram[h]++;
    sum += h;
    const c = perLabel.get(m.label) ?? { mistakes: 0, sum: 0 };
    c.mistakes++;
    c.sum += h;
    perLabel.set(m.label, c);
  }
  const perClass = [...perLabel].sort(([a], [b]) => a - b)
    .map(([label, c]) => ({ label, mistakes: c.mistakes, mean: c.sum / c.mistakes }));
  return {
    source: hierarchy.source,
    rule: hierarchy.rule,
    depths,
    severity: {
      mistakes: mistakes.length,
      mean: mistakes.length > 0 ? sum / mistakes.length : null,
      histogram,
      perClass,
    },
  };
}

/** The severity of the chosen attack's flips at the largest swept epsilon; null without flips. */
export interface FlipSeverity {
  attack: MainAttack;
  epsilon: number;
  flips: number;
  meanSeverity: number;
}

/**
 * The chosen attack's flips at the largest swept epsilon and their mean severity. A flipped image
 * keeps its adversarial class at larger radii (robustness.ts), so that point holds every flip of the
 * sweep. Null without flips.
 */
export function flipSeverity(robustness: Pick<RobustnessSummary, "attack" | "curve">): FlipSeverity | null {
  const last = robustness.curve.at(-1);
  if (!last || last.flips === 0 || last.meanSeverity === null) return null;
  return { attack: robustness.attack, epsilon: last.epsilon, flips: last.flips, meanSeverity: last.meanSeverity };
}
