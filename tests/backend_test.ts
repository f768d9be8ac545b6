/**
 * The choice of WebGPU backend: the policy against a fake machine (probes, cache and environment
 * stood in for), then once on this machine with both Mesa drivers installed.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  BACKEND_VARIABLE,
  type CachedChoice,
  cacheFile,
  type ChoiceContext,
  chooseBackend,
  CHOSEN_VARIABLE,
  decideBackend,
  type MachineKey,
  REPROBE_VARIABLE,
} from "../kernels/backend.ts";
import type { ProbeReport } from "../kernels/backend_probe.ts";

const LLVMPIPE = "llvmpipe (LLVM 15.0.6, 256 bits)";
const software = (ms: number): ProbeReport => ({ description: LLVMPIPE, isFallbackAdapter: true, ms });
const hardware = (description: string): ProbeReport => ({ description, isFallbackAdapter: false });
const KEY: MachineKey = { deno: "2.9.6", vulkan: "lvp", egl: "mesa" };

/** A machine whose probes answer from `probes` (an Error: that probe fails), with a cache in memory. */
function fakeMachine(
  probes: Record<string, ProbeReport | Error>,
  options: { env?: Record<string, string>; cache?: CachedChoice; key?: MachineKey } = {},
) {
  const env = new Map(Object.entries(options.env ?? {}));
  const probed: string[] = [];
  const written: CachedChoice[] = [];
  let cache = options.cache ?? null;
  const ctx: ChoiceContext = {
    env: {
      get: (name) => env.get(name),
      set: (name, value) => void env.set(name, value),
      delete: (name) => void env.delete(name),
    },
    candidates: Object.keys(probes),
    machineKey: () => Promise.resolve(options.key ?? KEY),
    readCache: () => Promise.resolve(cache),
    writeCache: (choice) => {
      written.push(choice);
      cache = choice;
      return Promise.resolve();
    },
    probe: (backend) => {
      probed.push(backend);
      const outcome = probes[backend];
      return outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve(outcome);
    },
    log: () => {},
  };
  return { ctx, env, probed, written };
}

const cached = (backend: string, key: MachineKey = KEY): CachedChoice => ({
  key,
  backend,
  found: "probed",
  description: LLVMPIPE,
  probes: [],
  probeSeconds: 1,
  date: "2026-01-01T00:00:00.000Z",
});

Deno.test("backend choice: among software adapters the faster probe wins, and the process runs it", async () => {
  for (const [vulkanMs, glMs, faster] of [[130, 50, "gl"], [40, 90, "vulkan"]] as const) {
    const machine = fakeMachine({ vulkan: software(vulkanMs), gl: software(glMs) });
    const decision = await decideBackend(machine.ctx);
    assert.deepEqual([decision.backend, decision.choice], [faster, "probed"]);
    assert.deepEqual(machine.probed, ["vulkan", "gl"], "each backend probed once");
    assert.equal(machine.env.get(BACKEND_VARIABLE), faster);
    assert.equal(machine.env.get(CHOSEN_VARIABLE), `${faster} cached`, "children take it as the cache's");
    assert.equal(machine.written.length, 1);
    assert.equal(machine.written[0].backend, faster);
    assert.deepEqual(machine.written[0].key, KEY);
  }
});

Deno.test("backend choice: a hardware adapter wins over a faster software one, the first candidate among several", async () => {
  const gpuOnGl = fakeMachine({ vulkan: software(10), gl: hardware("AMD Radeon RX 7600") });
  assert.deepEqual(await decideBackend(gpuOnGl.ctx), { backend: "gl", choice: "hardware" });
  const gpuOnBoth = fakeMachine({ vulkan: hardware("NVIDIA H200"), gl: hardware("NVIDIA H200") });
  assert.deepEqual(await decideBackend(gpuOnBoth.ctx), { backend: "vulkan", choice: "hardware" });
  assert.equal(gpuOnBoth.env.get(BACKEND_VARIABLE), "vulkan");
  assert.equal(gpuOnBoth.env.get(CHOSEN_VARIABLE), "vulkan hardware");
  // Read back from the cache, a hardware adapter is still said to be one.
  const again = fakeMachine({ vulkan: new Error("not probed"), gl: new Error("not probed") }, {
    cache: gpuOnBoth.written[0],
  });
  const cachedGpu = await decideBackend(again.ctx);
  assert.deepEqual([cachedGpu.backend, cachedGpu.choice, again.probed], ["vulkan", "hardware", []]);
});

Deno.test("backend choice: a cache with the machine's key is used without probing", async () => {
  const machine = fakeMachine({ vulkan: software(10), gl: software(90) }, { cache: cached("gl") });
  const decision = await decideBackend(machine.ctx);
  assert.deepEqual([decision.backend, decision.choice], ["gl", "cached"]);
  assert.equal(decision.expectedDescription, LLVMPIPE);
  assert.deepEqual(machine.probed, []);
  assert.deepEqual(machine.written, []);
  assert.equal(machine.env.get(BACKEND_VARIABLE), "gl");
});

Deno.test("backend choice: a cache whose key differs in any part is probed again and rewritten", async () => {
  for (const part of ["deno", "vulkan", "egl"]) {
    const machine = fakeMachine({ vulkan: software(10), gl: software(90) }, {
      cache: cached("gl", { ...KEY, [part]: "before" }),
    });
    const decision = await decideBackend(machine.ctx);
    assert.deepEqual([decision.backend, decision.choice], ["vulkan", "probed"], part);
    assert.deepEqual(machine.probed, ["vulkan", "gl"], part);
    assert.deepEqual(machine.written.map((c) => [c.backend, c.key]), [["vulkan", KEY]], part);
  }
  // A key with a part more (a newer version of this module reads more of the machine) differs too.
  const grown = fakeMachine({ vulkan: software(10), gl: software(90) }, {
    cache: cached("gl"),
    key: { ...KEY, cpu: "x" },
  });
  assert.equal((await decideBackend(grown.ctx)).choice, "probed");
});

Deno.test("backend choice: the re-probe variable probes despite a valid cache, once for the process and its children", async () => {
  const machine = fakeMachine({ vulkan: software(10), gl: software(90) }, {
    cache: cached("gl"),
    env: { [REPROBE_VARIABLE]: "1" },
  });
  assert.deepEqual(await decideBackend(machine.ctx), { backend: "vulkan", choice: "probed" });
  assert.deepEqual(machine.probed, ["vulkan", "gl"]);
  assert.equal(machine.env.get(REPROBE_VARIABLE), undefined);
});

Deno.test("backend choice: a variable the user set wins, and a child takes its parent's choice as cached", async () => {
  const user = fakeMachine({ vulkan: software(10), gl: software(90) }, {
    env: { [BACKEND_VARIABLE]: "gl" },
    cache: cached("vulkan"),
  });
  assert.deepEqual(await decideBackend(user.ctx), { backend: "gl", choice: "explicit" });
  assert.deepEqual(user.probed, []);
  assert.deepEqual(user.written, []);
  // A user's value that differs from the one this tool chose in the parent is the user's.
  const child = fakeMachine({ vulkan: software(10), gl: software(90) }, {
    env: { [BACKEND_VARIABLE]: "gl", [CHOSEN_VARIABLE]: "gl cached" },
  });
  assert.deepEqual(await decideBackend(child.ctx), { backend: "gl", choice: "cached" });
  const gpuChild = fakeMachine({ vulkan: software(10), gl: software(90) }, {
    env: { [BACKEND_VARIABLE]: "vulkan", [CHOSEN_VARIABLE]: "vulkan hardware" },
  });
  assert.deepEqual(await decideBackend(gpuChild.ctx), { backend: "vulkan", choice: "hardware" });
  const overridden = fakeMachine({ vulkan: software(10), gl: software(90) }, {
    env: { [BACKEND_VARIABLE]: "metal", [CHOSEN_VARIABLE]: "gl cached" },
  });
  assert.deepEqual(await decideBackend(overridden.ctx), { backend: "metal", choice: "explicit" });
  assert.deepEqual([...child.probed, ...gpuChild.probed, ...overridden.probed], []);
});

Deno.test("backend choice: a failing probe leaves the other backend; all failing leaves Deno's default, cached", async () => {
  const oneFails = fakeMachine({ vulkan: new Error("exit 2: no WebGPU adapter found"), gl: software(90) });
  assert.deepEqual(await decideBackend(oneFails.ctx), { backend: "gl", choice: "probed" });

  const allFail = fakeMachine({ vulkan: new Error("killed by SIGTERM"), gl: new Error("exit 1") });
  assert.deepEqual(await decideBackend(allFail.ctx), { backend: "default", choice: "default" });
  assert.equal(allFail.env.get(BACKEND_VARIABLE), undefined, "nothing set: Deno picks as it would");
  assert.deepEqual(allFail.written.map((c) => [c.backend, c.found]), [["default", "default"]]);
  // The failure is remembered: the next process does not wait for the probes again.
  const next = fakeMachine({ vulkan: new Error("x"), gl: new Error("x") }, { cache: allFail.written[0] });
  assert.deepEqual(await decideBackend(next.ctx), { backend: "default", choice: "default" });
  assert.deepEqual(next.probed, []);
});

Deno.test("backend choice: a cache that cannot be written does not stop the choice", async () => {
  const machine = fakeMachine({ vulkan: software(130), gl: software(50) });
  machine.ctx.writeCache = () => Promise.reject(new Error("read-only file system"));
  machine.ctx.readCache = () => Promise.reject(new Error("permission denied"));
  assert.deepEqual(await decideBackend(machine.ctx), { backend: "gl", choice: "probed" });
});

Deno.test("backend choice: one candidate (or none) is nothing to choose between", async () => {
  const machine = fakeMachine({ metal: hardware("Apple M2") });
  assert.deepEqual(await decideBackend(machine.ctx), { backend: "default", choice: "default" });
  assert.deepEqual(machine.probed, []);
});

Deno.test("backend cache file: under $XDG_CACHE_HOME, else ~/.cache", () => {
  const env = (vars: Record<string, string>) => ({ get: (name: string) => vars[name] });
  assert.equal(cacheFile(env({ XDG_CACHE_HOME: "/c", HOME: "/h" })), "/c/convnet-audit/backend.json");
  assert.equal(cacheFile(env({ HOME: "/h" })), "/h/.cache/convnet-audit/backend.json");
});

Deno.test("backend choice: a process decides once, however many devices it creates", async () => {
  const first = chooseBackend();
  assert.equal(chooseBackend(), first, "the same decision, not a second one");
  assert.equal(await chooseBackend(), await first);
});

/** Gpu.create's adapter report from a fresh process whose environment has no backend variable. */
async function adapterInFreshProcess(cacheHome: string): Promise<Record<string, unknown>> {
  const env = Deno.env.toObject();
  for (const name of [BACKEND_VARIABLE, CHOSEN_VARIABLE, REPROBE_VARIABLE]) delete env[name];
  const gpuModule = new URL("../kernels/gpu.ts", import.meta.url).href;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { Gpu } from "${gpuModule}"; const gpu = await Gpu.create(); console.log(JSON.stringify(gpu.adapter));`,
    ],
    cwd: new URL("..", import.meta.url).pathname,
    env: { ...env, XDG_CACHE_HOME: cacheHome },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.ok(output.success, decoder.decode(output.stderr));
  return JSON.parse(decoder.decode(output.stdout).trim().split("\n").pop()!);
}

Deno.test("backend choice on this machine: with lavapipe and llvmpipe installed, GL is probed, then read from the cache until the adapter changes", async () => {
  const lavapipe = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"].some((dir) =>
    existsSync(dir) && [...Deno.readDirSync(dir)].some((entry) => entry.name.startsWith("lvp_icd"))
  );
  assert.ok(lavapipe, "this test needs Mesa's Vulkan driver lavapipe: apt-get install mesa-vulkan-drivers");
  const cacheHome = await Deno.makeTempDir();
  try {
    const first = await adapterInFreshProcess(cacheHome);
    assert.deepEqual([first.backend, first.backendChoice, first.isFallbackAdapter], ["gl", "probed", true]);
    assert.match(String(first.driver), /^Mesa \d+\.\d+/);
    const file = JSON.parse(await Deno.readTextFile(`${cacheHome}/convnet-audit/backend.json`)) as CachedChoice;
    assert.equal(file.description, first.description);
    assert.deepEqual(file.probes.map((p) => p.backend), ["vulkan", "gl"]);
    assert.ok(file.probes.every((p) => "report" in p && p.report.isFallbackAdapter), JSON.stringify(file.probes));

    const second = await adapterInFreshProcess(cacheHome);
    assert.deepEqual([second.backend, second.backendChoice], ["gl", "cached"]);

    // An adapter other than the cached one: this process keeps its backend, the next one probes again.
    const path = `${cacheHome}/convnet-audit/backend.json`;
    await Deno.writeTextFile(path, JSON.stringify({ ...file, description: "another adapter" }));
    const third = await adapterInFreshProcess(cacheHome);
    assert.deepEqual([third.backend, third.backendChoice], ["gl", "cached"]);
    assert.ok(!existsSync(path), "the stale cache is dropped");
  } finally {
    await Deno.remove(cacheHome, { recursive: true });
  }
});
