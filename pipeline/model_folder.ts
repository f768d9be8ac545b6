/**
 * A model on disk is a folder: `manifest.json`, `graph.json` and `weights.safetensors`.
 *
 * @example
 * ```ts
 * const model = await loadModelFolder("fixtures/models/digits");
 * console.log(model.manifest.classes);
 * ```
 */
import { join } from "node:path";
import { readInputFile } from "./data/files.ts";
import { type Graph, parameterNames, parseGraph } from "./graph.ts";
import { InputError } from "./input_error.ts";
import { type Manifest, parseManifest } from "./manifest.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

/** A named float32 array with its shape. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Everything a model folder holds, in host memory. */
export interface ModelFiles {
  manifest: Manifest;
  graph: Graph;
  weights: Map<string, HostTensor>;
}

/**
 * Reads and parses a JSON file; a missing file or bad JSON is an InputError naming it.
 *
 * @example
 * ```ts
 * const manifest = parseManifest(await readJson("model/manifest.json"), "model/manifest.json");
 * ```
 */
export async function readJson(path: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readInputFile(path));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Loads and validates a model folder: every parameter the graph names must be in the weights. */
export async function loadModelFolder(dir: string): Promise<ModelFiles> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new InputError(`${dir}: a model must be a folder`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`${dir}: model folder not found`);
    throw e;
  }
  const manifest = parseManifest(await readJson(join(dir, "manifest.json")), join(dir, "manifest.json"));
  const graph = parseGraph(await readJson(join(dir, "graph.json")), join(dir, "graph.json"));
  const weightsPath = join(dir, "weights.safetensors");
  const weights = new Map<string, HostTensor>();
  for (const [name, t] of readSafetensors(await readInputFile(weightsPath), weightsPath)) {
    weights.set(name, { shape: t.shape, data: t.data });
  }
  const missing = graph.nodes.flatMap(parameterNames).filter((name) => !weights.has(name));
  if (missing.length > 0) throw new InputError(`${weightsPath}: missing parameter(s) ${missing.join(", ")}`);
  const [c, h, w] = graph.input.shape;
  const { channels, height, width } = manifest.input;
  if (c !== channels || h !== height || w !== width) {
    throw new InputError(
      `${dir}: manifest input [${channels},${height},${width}] disagrees with graph input [${c},${h},${w}]`,
    );
  }
  return { manifest, graph, weights };
}

/** Writes a model folder (creating it), each file written whole before it is renamed into place. */
export async function saveModelFolder(dir: string, model: ModelFiles): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
  await writeAtomic(join(dir, "manifest.json"), text(model.manifest));
  await writeAtomic(join(dir, "graph.json"), text(model.graph));
  await writeAtomic(join(dir, "weights.safetensors"), writeSafetensors(model.weights));
}

/** Writes to a temporary file, flushes it to disk, then renames it over `path`. */
export async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}
