/**
 * The attacks a report names: the main curve's, an adversarial example's and the study sample's.
 *
 * @example
 * ```ts
 * console.log(AttackSchema.parse("apgd-ce"));
 * ```
 */
import { z } from "zod";

/** The attacks: FGSM, PGD, APGD on the cross-entropy or DLR loss, and AutoAttack's ensemble. */
export const AttackSchema = z.enum(["fgsm", "pgd", "apgd-ce", "apgd-dlr", "autoattack"]);
