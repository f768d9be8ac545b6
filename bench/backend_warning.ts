/**
 * The bench's warning for a software Vulkan adapter (lavapipe): our kernels ran 4-12x slower there
 * than on llvmpipe over GL on the same CPU, so figures taken on it undersell them. Where the backend
 * choice probed this machine (its cache, kernels/backend.ts), the warning gives both probe times, and
 * there is none when GL was not the faster.
 *
 * @example
 * ```ts
 * import { Gpu } from "../kernels/gpu.ts";
 * const gpu = await Gpu.create();
 * const warning = softwareVulkanWarning(gpu.adapter, await cachedProbe());
 * if (warning) console.warn(warning);
 * ```
 */
import { machineKey, readCachedChoice, sameKey } from "../kernels/backend.ts";
import type { AdapterReport } from "../kernels/gpu.ts";

/** A probe of this machine's backends: milliseconds per backend that answered, and when. */
export interface BackendProbe {
  ms: Readonly<Record<string, number>>;
  date: string;
}

/**
 * The warning to print, or null: null unless the adapter is a software one over Vulkan, and null
 * when a probe found GL no faster.
 */
export function softwareVulkanWarning(adapter: AdapterReport, probe: BackendProbe | null): string | null {
  if (adapter.backend !== "vulkan" || !adapter.isFallbackAdapter) return null;
  const head = `warning: this bench runs on a software Vulkan adapter (${adapter.description})`;
  // A user's own setting chose Vulkan: unsetting it lets the tool measure and choose.
  const remedy = `run with DENO_WEBGPU_BACKEND=gl${
    adapter.backendChoice === "explicit" ? " (or unset it: the tool then chooses by measurement)" : ""
  }`;
  const vulkan = probe?.ms.vulkan, gl = probe?.ms.gl;
  if (vulkan === undefined || gl === undefined) {
    return `${head}; on software adapters GL is usually several times faster: ${remedy}`;
  }
  if (gl >= vulkan) return null;
  return `${head}; GL measured ${(vulkan / gl).toFixed(1)}x faster on this machine (backend probe of ${probe!.date}: ` +
    `${gl.toFixed(0)} ms against ${vulkan.toFixed(0)} ms): ${remedy}`;
}

/** The probe times of the backend choice's cache, when it holds a probe of this machine; else null. */
export async function cachedProbe(): Promise<BackendProbe | null> {
  // No cache yet (an explicit DENO_WEBGPU_BACKEND skips the probe), or another machine's, or an old one.
  const cached = await readCachedChoice().catch(() => null);
  if (!cached || !sameKey(cached.key ?? {}, await machineKey())) return null;
  const ms: Record<string, number> = {};
  for (const p of cached.probes ?? []) if ("report" in p && p.report.ms !== undefined) ms[p.backend] = p.report.ms;
  return { ms, date: cached.date };
}
