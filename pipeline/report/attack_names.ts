/**
 * Display names of the robustness curves (report.json's `robustness.curves` keys), shared by the
 * HTML section and the terminal summary.
 *
 * @example
 * ```ts
 * curveLabel("apgd-t", ["apgd-ce", "apgd-t", "square"]); // "AutoAttack after APGD-T"
 * curveLabel("pgd", null); // "PGD"
 * ```
 */

const NAMES: Record<string, string> = {
  "fgsm": "FGSM",
  "pgd": "PGD",
  "apgd-ce": "APGD-CE",
  "apgd-dlr": "APGD-DLR",
  "apgd-t": "APGD-T",
  "fab-t": "FAB-T",
  "square": "Square",
  "autoattack": "AutoAttack",
};

/** An attack's display name. */
export function attackLabel(name: string): string {
  return NAMES[name] ?? name;
}

/** The threat model's display name (report.json's config.norm; absent in older reports: L-infinity). */
export function normLabel(norm: string | undefined, short = false): string {
  return norm === "l2" ? "L2" : short ? "Linf" : "L-infinity";
}

/**
 * A curve's display name: an attack, or AutoAttack's robust accuracy after one of its attacks
 * ("AA" for AutoAttack when `short`, for the terminal's narrow label column).
 */
export function curveLabel(name: string, ensemble: readonly string[] | null | undefined, short = false): string {
  if (!ensemble?.includes(name)) return attackLabel(name);
  return short ? `AA ${attackLabel(name)}` : `AutoAttack after ${attackLabel(name)}`;
}

/**
 * The curves to show, in order: FGSM, then the main attack's, or AutoAttack's after each attack
 * (the last is the ensemble's own, so "autoattack" itself is not repeated).
 */
export function shownCurves<T>(
  curves: Readonly<Record<string, T>> | undefined,
  fallback: { fgsm: T; pgd: T | null },
  ensemble: readonly string[] | null | undefined,
): [string, T][] {
  if (!curves) return [["fgsm", fallback.fgsm], ...(fallback.pgd ? [["pgd", fallback.pgd] as [string, T]] : [])];
  const order = ["fgsm", "pgd", "apgd-ce", "apgd-dlr", ...(ensemble ?? [])];
  return [...new Set(order)].flatMap((name) => (curves[name] ? [[name, curves[name]] as [string, T]] : []));
}
