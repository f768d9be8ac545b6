import assert from "node:assert/strict";
import { join } from "node:path";
import type { AdapterReport } from "../kernels/gpu.ts";
import { machineKey } from "../kernels/backend.ts";
import { cachedProbe, softwareVulkanWarning } from "../bench/backend_warning.ts";
import { type BenchReport, table } from "../bench/report.ts";

const LAVAPIPE: AdapterReport = {
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  vendor: "65541",
  architecture: "",
  isFallbackAdapter: true,
  backend: "vulkan",
  driver: "Mesa 22.3.6-1+deb12u2",
  backendChoice: "explicit",
};
const PROBE = { ms: { vulkan: 127, gl: 55 }, date: "2026-12-01T10:43:28.521Z" };

Deno.test("bench warning: a software Vulkan adapter is warned about, with the probe's times where GL measured faster", () => {
  assert.equal(
    softwareVulkanWarning(LAVAPIPE, PROBE),
    "warning: this bench runs on a software Vulkan adapter (llvmpipe (LLVM 15.0.6, 256 bits)); GL measured 2.3x " +
      "faster on this machine (backend probe of 2026-12-01T10:43:28.521Z: 55 ms against 127 ms): run with " +
      "DENO_WEBGPU_BACKEND=gl (or unset it: the tool then chooses by measurement)",
  );
  assert.equal(
    softwareVulkanWarning({ ...LAVAPIPE, backendChoice: "cached" }, null),
    "warning: this bench runs on a software Vulkan adapter (llvmpipe (LLVM 15.0.6, 256 bits)); on software " +
      "adapters GL is usually several times faster: run with DENO_WEBGPU_BACKEND=gl",
  );
  // GL probed but failed: no time to compare, so the general advice.
  assert.match(softwareVulkanWarning(LAVAPIPE, { ...PROBE, ms: { vulkan: 127 } })!, /usually several times faster/);
});

Deno.test("bench warning: none for GL, a hardware Vulkan adapter, or a software one GL did not beat", () => {
  assert.equal(softwareVulkanWarning({ ...LAVAPIPE, backend: "gl" }, PROBE), null);
  assert.equal(
    softwareVulkanWarning({ ...LAVAPIPE, isFallbackAdapter: false, description: "NVIDIA H200" }, null),
    null,
  );
  assert.equal(softwareVulkanWarning(LAVAPIPE, { ...PROBE, ms: { vulkan: 50, gl: 55 } }), null);
});

Deno.test("bench warning: the probe comes from the backend choice's cache only when it was made on this machine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench-backend-" });
  const before = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", dir);
  try {
    assert.equal(await cachedProbe(), null, "no cache yet");
    const key = await machineKey();
    const write = (cacheKey: Record<string, string>) =>
      Deno.mkdir(join(dir, "convnet-audit"), { recursive: true }).then(() =>
        Deno.writeTextFile(
          join(dir, "convnet-audit", "backend.json"),
          JSON.stringify({
            key: cacheKey,
            backend: "gl",
            found: "probed",
            description: LAVAPIPE.description,
            probes: [
              { backend: "vulkan", report: { description: LAVAPIPE.description, isFallbackAdapter: true, ms: 127 } },
              { backend: "gl", report: { description: LAVAPIPE.description, isFallbackAdapter: true, ms: 55 } },
              { backend: "dx12", error: "exit 1: no adapter" },
            ],
            probeSeconds: 1.7,
            date: PROBE.date,
          }),
        )
      );
    await write(key);
    assert.deepEqual(await cachedProbe(), PROBE);
    await write({ ...key, mesa: "0000000000000000" });
    assert.equal(await cachedProbe(), null, "a cache from before a Mesa upgrade says nothing of this machine");
  } finally {
    if (before === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", before);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench table: its first line names the adapter, the backend and how it was chosen, the driver", () => {
  const report: BenchReport = {
    date: "2026-12-01T11:00:00.000Z",
    deno: { ...Deno.version, deno: "2.9.6" },
    adapter: { ...LAVAPIPE, backend: "gl", backendChoice: "probed" },
    timing: "GPU timestamps",
    runs: 5,
    probes: { fmaGflops: 100, kernelGbps: 10, readGbps: 10, copyGbps: 8, copyEngineGbps: 12 },
    cases: [],
  };
  assert.equal(
    table(report).split("\n")[0],
    "ran on llvmpipe (LLVM 15.0.6, 256 bits), fallback adapter, backend gl (measured fastest here), " +
      "driver Mesa 22.3.6-1+deb12u2; Deno 2.9.6, 2026-12-01T11:00:00.000Z",
  );
});
