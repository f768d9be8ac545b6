/**
 * Images of a report live beside report.json as files under `assets/`, PNG (`.png`: digits,
 * drawings, anything small and sharp) or JPEG (`.jpg`: photographs); the report names them by
 * their path relative to the report folder, which this schema pins down (no `..`, no folders).
 */
import { z } from "zod";

/** How an asset is encoded, which is also its file extension. */
export type AssetFormat = "png" | "jpg";

export const AssetPathSchema = z.string().regex(/^assets\/[A-Za-z0-9._-]+\.(png|jpg)$/);

/**
 * The report-relative path of the asset called `name` (letters, digits, `.`, `_`, `-`) in `format`.
 *
 * @example
 * ```ts
 * assetPath("mistake-12", "jpg"); // "assets/mistake-12.jpg"
 * ```
 */
export function assetPath(name: string, format: AssetFormat): string {
  return AssetPathSchema.parse(`assets/${name}.${format}`);
}

/** The format of an asset path, from its extension. */
export function assetFormat(path: string): AssetFormat {
  return AssetPathSchema.parse(path).endsWith(".jpg") ? "jpg" : "png";
}

/** The media type of each asset format, for data URIs and HTTP. */
export const ASSET_MIME: Readonly<Record<AssetFormat, string>> = { png: "image/png", jpg: "image/jpeg" };
