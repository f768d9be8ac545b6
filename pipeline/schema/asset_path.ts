/**
 * Images of a report live beside report.json as PNG files under `assets/`; the report names them
 * by their path relative to the report folder, which this schema pins down (no `..`, no folders).
 */
import { z } from "zod";

export const AssetPathSchema = z.string().regex(/^assets\/[A-Za-z0-9._-]+\.png$/);

/** The report-relative path of the asset called `name` (letters, digits, `.`, `_`, `-`). */
export function assetPath(name: string): string {
  return AssetPathSchema.parse(`assets/${name}.png`);
}
