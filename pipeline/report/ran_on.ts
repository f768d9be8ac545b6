/**
 * The words for what an audit or a benchmark ran on: the adapter, the WebGPU backend and how it was
 * chosen, the driver. The HTML summary, the terminal summary and the bench table say it alike, since
 * a timing means little without the backend it was taken on (lavapipe is several times slower than
 * llvmpipe over GL, on the same CPU and under the same adapter name).
 *
 * @example
 * ```ts
 * const line = ranOnLine({
 *   description: "llvmpipe (LLVM 15.0.6, 256 bits)",
 *   vendor: "mesa",
 *   architecture: "",
 *   isFallbackAdapter: true,
 *   backend: "gl",
 *   driver: "",
 *   backendChoice: "probed",
 * }); // "llvmpipe (LLVM 15.0.6, 256 bits), fallback adapter, backend gl (measured fastest here), driver unknown"
 * ```
 */
import type { ReportAdapter } from "../schema/report.ts";

const CHOICE_WORDS: Record<NonNullable<ReportAdapter["backendChoice"]>, string> = {
  explicit: "set by DENO_WEBGPU_BACKEND",
  probed: "measured fastest here",
  cached: "measured fastest here, from the cache",
  hardware: "hardware adapter",
  default: "Deno's pick, not measured",
};

/** How the backend was chosen, in words; null when not recorded. */
export function backendChoiceText(adapter: ReportAdapter): string | null {
  return adapter.backendChoice ? CHOICE_WORDS[adapter.backendChoice] : null;
}

/**
 * The driver as the report records it, "unknown" when nothing was known of it; null in a report
 * written before drivers were recorded.
 */
export function driverText(adapter: ReportAdapter): string | null {
  return adapter.driver === undefined ? null : adapter.driver || "unknown";
}

/** One line: the adapter, "fallback adapter" when it is one, the backend and how it was chosen, the driver. */
export function ranOnLine(adapter: ReportAdapter): string {
  const parts = [adapter.description];
  if (adapter.isFallbackAdapter) parts.push("fallback adapter");
  const how = backendChoiceText(adapter);
  parts.push(
    adapter.backend === undefined ? "backend not recorded" : `backend ${adapter.backend}${how ? ` (${how})` : ""}`,
  );
  const driver = driverText(adapter);
  if (driver !== null) parts.push(`driver ${driver}`);
  return parts.join(", ");
}
