/**
 * The choice of WebGPU backend, made before the process's first adapter request, since Deno reads
 * `DENO_WEBGPU_BACKEND` then. A variable the user set always wins. Otherwise each backend is probed
 * in a subprocess (`backend_probe.ts`): a hardware adapter wins (the first in `CANDIDATES`, so
 * Vulkan on Linux); among software adapters only, the faster on a GEMM and a convolution. On a
 * CPU-only host with Mesa that picks llvmpipe over GL rather than lavapipe, several times faster
 * for these kernels, whichever packages happen to be installed.
 *
 * The choice is cached per machine in `$XDG_CACHE_HOME/convnet-audit/backend.json` (or
 * `~/.cache/...`), keyed by what can be read before any adapter is requested: Deno's version, the
 * host, the CPU, the display devices, the Vulkan and EGL driver manifests, the Mesa driver files and
 * the variables that steer them. A changed key, an adapter other than the cached one, or
 * `CONVNET_AUDIT_REPROBE=1` probes again. Nothing is printed unless the command has `--verbose`.
 *
 * @example
 * ```ts
 * const { backend, choice } = await chooseBackend(); // e.g. "gl", "cached"
 * ```
 */
import { fileURLToPath } from "node:url";
import type { BackendChoice } from "./gpu.ts";
import type { ProbeReport } from "./backend_probe.ts";

/** The variable Deno reads for its WebGPU backend. */
export const BACKEND_VARIABLE = "DENO_WEBGPU_BACKEND";
/**
 * Set beside `BACKEND_VARIABLE` when this module set it, to "BACKEND CHOICE" ("gl cached",
 * "vulkan hardware"), so a child process (which inherits both) takes the value as the parent's
 * choice rather than the user's.
 */
export const CHOSEN_VARIABLE = "CONVNET_AUDIT_BACKEND_CHOSEN";
/** Set to 1 to probe again rather than read the cache. */
export const REPROBE_VARIABLE = "CONVNET_AUDIT_REPROBE";

/** The backends worth comparing per OS, in order of preference for a hardware adapter. */
const CANDIDATES: Partial<Record<typeof Deno.build.os, readonly string[]>> = {
  linux: ["vulkan", "gl"],
  windows: ["dx12", "vulkan", "gl"],
};

/** A probe that has not answered by then is taken as failed (a hung driver must not hang a command). */
const PROBE_TIMEOUT_MS = 30_000;

/** The backend a process runs and how it was chosen (`backend` is "default" when nothing set it). */
export interface BackendDecision {
  backend: string;
  choice: BackendChoice;
  /** The adapter description the cache expects, to notice a changed adapter (cache hits only). */
  expectedDescription?: string;
}

/** What can be read of a machine before any adapter is requested; a change probes again. */
export type MachineKey = Record<string, string>;

/** One backend's probe: its report, or why it failed. */
export type ProbeOutcome = { backend: string } & ({ report: ProbeReport } | { error: string });

/** The cache file's contents. */
export interface CachedChoice {
  key: MachineKey;
  backend: string;
  /** How the cached backend was found: "probed", "hardware", or "default" when every probe failed. */
  found: BackendChoice;
  /** The chosen adapter's description ("" when none). */
  description: string;
  probes: ProbeOutcome[];
  probeSeconds: number;
  date: string;
}

/** Everything the choice reads or does, so tests can stand in for the machine. */
export interface ChoiceContext {
  env: { get(name: string): string | undefined; set(name: string, value: string): void; delete(name: string): void };
  candidates: readonly string[];
  machineKey(): Promise<MachineKey>;
  readCache(): Promise<CachedChoice | null>;
  writeCache(choice: CachedChoice): Promise<void>;
  /** Probes one backend; throws when it has no adapter, crashes or times out. */
  probe(backend: string): Promise<ProbeReport>;
  log(message: string): void;
}

/**
 * Decides the backend and sets `BACKEND_VARIABLE` (and `CHOSEN_VARIABLE`) to it through
 * `ctx.env`, unless the user set it or no backend could be chosen. Never throws for a failed probe
 * or cache: it falls back to Deno's own default and says why through `ctx.log`.
 */
export async function decideBackend(ctx: ChoiceContext): Promise<BackendDecision> {
  const set = ctx.env.get(BACKEND_VARIABLE);
  if (set) {
    const [chosen, how] = (ctx.env.get(CHOSEN_VARIABLE) ?? "").split(" ");
    return { backend: set, choice: chosen !== set ? "explicit" : how === "hardware" ? "hardware" : "cached" };
  }
  if (ctx.candidates.length < 2) return { backend: "default", choice: "default" };
  const key = await ctx.machineKey();
  const reprobe = ctx.env.get(REPROBE_VARIABLE) === "1";
  const cached = reprobe ? null : await ctx.readCache().catch(() => null);
  let decision: BackendDecision;
  if (cached && sameKey(cached.key, key)) {
    decision = cached.found === "default" ? { backend: "default", choice: "default" } : {
      backend: cached.backend,
      // A hardware adapter stays one; a measured choice is now the cache's.
      choice: cached.found === "hardware" ? "hardware" : "cached",
      expectedDescription: cached.description,
    };
    ctx.log(`${decision.backend} from the cache (${cached.found} on ${cached.date})`);
  } else {
    if (cached) ctx.log(`machine changed (${changedParts(cached.key, key).join(", ")}): probing again`);
    const fresh = await probeAll(ctx, key);
    await ctx.writeCache(fresh).catch((e) => ctx.log(`cache not written: ${message(e)}`));
    decision = { backend: fresh.backend, choice: fresh.found };
    // Children of this process take the fresh choice as it is, without probing again.
    if (reprobe) ctx.env.delete(REPROBE_VARIABLE);
  }
  if (decision.backend !== "default") {
    ctx.env.set(BACKEND_VARIABLE, decision.backend);
    ctx.env.set(CHOSEN_VARIABLE, `${decision.backend} ${decision.choice === "hardware" ? "hardware" : "cached"}`);
  }
  return decision;
}

async function probeAll(ctx: ChoiceContext, key: MachineKey): Promise<CachedChoice> {
  const start = performance.now();
  const probes: ProbeOutcome[] = [];
  // One at a time: probes running together would time each other.
  for (const backend of ctx.candidates) {
    const outcome = await ctx.probe(backend).then(
      (report): ProbeOutcome => ({ backend, report }),
      (e): ProbeOutcome => ({ backend, error: message(e) }),
    );
    ctx.log(`probe ${backend}: ${"report" in outcome ? describe(outcome.report) : `failed (${outcome.error})`}`);
    probes.push(outcome);
  }
  const probeSeconds = (performance.now() - start) / 1000;
  const working = probes.filter((p): p is ProbeOutcome & { report: ProbeReport } => "report" in p);
  const hardware = working.find((p) => !p.report.isFallbackAdapter);
  const fastest = working.filter((p) => p.report.ms !== undefined)
    .reduce<typeof working[number] | undefined>(
      (best, p) => (!best || p.report.ms! < best.report.ms! ? p : best),
      undefined,
    );
  const chosen = hardware ?? fastest;
  const date = new Date().toISOString();
  if (!chosen) {
    ctx.log("no backend could be probed: Deno picks its default");
    return { key, backend: "default", found: "default", description: "", probes, probeSeconds, date };
  }
  const found = hardware ? "hardware" : "probed";
  ctx.log(`chose ${chosen.backend} (${found}, probes took ${probeSeconds.toFixed(1)} s)`);
  return { key, backend: chosen.backend, found, description: chosen.report.description, probes, probeSeconds, date };
}

function describe(report: ProbeReport): string {
  const kind = report.isFallbackAdapter ? "software" : "hardware";
  return `${report.description} (${kind})${report.ms === undefined ? "" : `, ${report.ms.toFixed(1)} ms`}`;
}

/** Whether two machine keys agree in every part (a part only one of them has differs). */
export function sameKey(a: MachineKey, b: MachineKey): boolean {
  return changedParts(a, b).length === 0;
}

function changedParts(a: MachineKey, b: MachineKey): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((part) => a[part] !== b[part]);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

let processChoice: Promise<BackendDecision> | null = null;

/** The process's backend decision, made once (every later call gets the same answer). */
export function chooseBackend(): Promise<BackendDecision> {
  processChoice ??= decideBackend(machineContext()).catch((e): BackendDecision => {
    log(`choice failed: ${message(e)}`);
    return { backend: "default", choice: "default" };
  });
  return processChoice;
}

/**
 * Drops the cached choice when the adapter it ran on is not the one cached (none at all, or another
 * description), so the next process probes again. This process keeps what it has: the backend is
 * fixed once an adapter was requested.
 */
export async function checkCachedAdapter(decision: BackendDecision, description: string | null): Promise<void> {
  if (decision.expectedDescription === undefined || decision.expectedDescription === description) return;
  log(`adapter ${description ?? "missing"}, cached ${decision.expectedDescription}: the next run probes again`);
  await Deno.remove(cacheFile()).catch(() => {});
}

function log(text: string): void {
  if (Deno.args.includes("--verbose")) console.error(`backend: ${text}`);
}

/** The cached choice, as written; throws when there is no cache file or it is not JSON. */
export async function readCachedChoice(): Promise<CachedChoice> {
  return JSON.parse(await Deno.readTextFile(cacheFile())) as CachedChoice;
}

/** The cache file: `$XDG_CACHE_HOME/convnet-audit/backend.json`, or under `~/.cache`. */
export function cacheFile(env: { get(name: string): string | undefined } = Deno.env): string {
  const home = env.get("HOME") ?? env.get("USERPROFILE") ?? ".";
  const base = env.get("XDG_CACHE_HOME") || env.get("LOCALAPPDATA") || `${home}/.cache`;
  return `${base}/convnet-audit/backend.json`;
}

function machineContext(): ChoiceContext {
  return {
    env: Deno.env,
    // Without leave to start the probes, choose nothing (rather than cache a failure that is not the machine's).
    candidates: Deno.permissions.querySync({ name: "run" }).state === "granted" ? CANDIDATES[Deno.build.os] ?? [] : [],
    machineKey,
    readCache: readCachedChoice,
    writeCache: async (choice) => {
      const path = cacheFile();
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      // Written whole then renamed: processes starting together never read half a file.
      const partial = `${path}.${Deno.pid}.tmp`;
      await Deno.writeTextFile(partial, JSON.stringify(choice, null, 2) + "\n");
      await Deno.rename(partial, path);
    },
    probe: probeInSubprocess,
    log,
  };
}

/** Runs `backend_probe.ts` with the backend set, with the project's config, and reads its report. */
async function probeInSubprocess(backend: string): Promise<ProbeReport> {
  const entry = new URL("./backend_probe.ts", import.meta.url);
  if (entry.protocol !== "file:") throw new Error(`the probe runs from a local checkout, not ${entry.href}`);
  const config = fileURLToPath(new URL("../deno.json", import.meta.url));
  const env = Deno.env.toObject();
  delete env[CHOSEN_VARIABLE];
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", "--config", config, fileURLToPath(entry)],
    env: { ...env, [BACKEND_VARIABLE]: backend },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  }).output();
  const lastLine = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim().split("\n").pop() ?? "";
  if (!output.success) {
    const why = output.signal ? `killed by ${output.signal}` : `exit ${output.code}`;
    throw new Error(`${why}: ${lastLine(output.stderr)}`);
  }
  return JSON.parse(lastLine(output.stdout)) as ProbeReport;
}

/**
 * What can be read of the machine before an adapter is requested, in a few milliseconds: each part
 * a short digest (the cache file stays readable and says which part changed).
 */
export async function machineKey(): Promise<MachineKey> {
  const parts: Record<string, string[]> = {
    deno: [Deno.version.deno, Deno.build.target],
    host: [attempt(() => Deno.hostname())],
    cpu: [cpuModel(), String(navigator.hardwareConcurrency)],
    devices: displayDevices(),
    vulkan: driverManifests(["/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/usr/share/vulkan/icd.d"]),
    egl: driverManifests(["/etc/glvnd/egl_vendor.d", "/usr/share/glvnd/egl_vendor.d"]),
    mesa: fileStats([
      "/usr/lib/x86_64-linux-gnu/dri",
      "/usr/lib/aarch64-linux-gnu/dri",
      "/usr/lib64/dri",
      "/usr/lib/dri",
    ]),
    variables: [
      "VK_ICD_FILENAMES",
      "VK_DRIVER_FILES",
      "__EGL_VENDOR_LIBRARY_FILENAMES",
      "LIBGL_ALWAYS_SOFTWARE",
      "GALLIUM_DRIVER",
      "MESA_LOADER_DRIVER_OVERRIDE",
      "LD_LIBRARY_PATH",
    ].map((name) => `${name}=${attempt(() => Deno.env.get(name) ?? "")}`),
  };
  const key: MachineKey = {};
  for (const [part, lines] of Object.entries(parts)) key[part] = await digest(lines.join("\n"));
  return key;
}

async function digest(text: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...hash.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The value of `read`, or "" when it fails (a missing file, a permission not granted). */
function attempt(read: () => string): string {
  try {
    return read();
  } catch {
    return "";
  }
}

function cpuModel(): string {
  const info = attempt(() => Deno.readTextFileSync("/proc/cpuinfo"));
  return /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "";
}

/** PCI vendor and device of each display device, and NVIDIA's driver version where loaded. */
function displayDevices(): string[] {
  const cards = listDir("/sys/class/drm").filter((name) => /^card\d+$/.test(name));
  const ids = cards.map((card) =>
    ["vendor", "device"].map((f) => attempt(() => Deno.readTextFileSync(`/sys/class/drm/${card}/device/${f}`).trim()))
      .join(":")
  );
  return [...ids, attempt(() => Deno.readTextFileSync("/proc/driver/nvidia/version").split("\n")[0])];
}

/** Each driver manifest's name and text, and the size and date of the library it names. */
function driverManifests(dirs: string[]): string[] {
  return dirs.flatMap((dir) =>
    listDir(dir).map((name) => {
      const text = attempt(() => Deno.readTextFileSync(`${dir}/${name}`));
      const library = /"library_path"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? "";
      return `${dir}/${name} ${text.replace(/\s+/g, "")} ${library.startsWith("/") ? stat(library) : ""}`;
    })
  );
}

/** Name, size and date of each file in the folders: a Mesa upgrade replaces them. */
function fileStats(dirs: string[]): string[] {
  return dirs.flatMap((dir) => listDir(dir).map((name) => `${dir}/${name} ${stat(`${dir}/${name}`)}`));
}

function stat(path: string): string {
  return attempt(() => {
    const info = Deno.statSync(path);
    return `${info.size} ${info.mtime?.getTime() ?? ""}`;
  });
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}

/**
 * What is known of the driver behind an adapter: Deno's GPUAdapterInfo names none, so for Mesa's
 * adapters (vendor 0x10005) the installed Mesa package's version, for NVIDIA's the kernel
 * module's; "" otherwise.
 */
export function adapterDriver(info: { vendor: string; description: string }): string {
  const nvidia = /NVRM version:.*?(\d+\.\d+(\.\d+)?)/.exec(
    attempt(() => Deno.readTextFileSync("/proc/driver/nvidia/version")),
  );
  if (nvidia && /nvidia/i.test(`${info.vendor} ${info.description}`)) return `NVIDIA ${nvidia[1]}`;
  const mesa = info.vendor === String(0x10005) || /llvmpipe|lavapipe|mesa/i.test(info.description);
  if (!mesa) return "";
  const status = attempt(() => Deno.readTextFileSync("/var/lib/dpkg/status"));
  const stanza = status.split("\n\n").find((s) => /^Source: mesa\b/m.test(s) && /^Status: .*installed$/m.test(s));
  const version = stanza && /^Version: (.*)$/m.exec(stanza)?.[1];
  return version ? `Mesa ${version}` : "Mesa";
}
