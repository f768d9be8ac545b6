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
import { readInputFile, readJson, writeAtomic } from "../io/files.ts";
import type { HostTensor, ModelFiles } from "./model_files.ts";
import { parameterNames, parseGraph } from "./graph.ts";
import { InputError } from "../io/input_error.ts";
import { parseManifest } from "./manifest.ts";
import { readSafetensors, writeSafetensors } from "../formats/safetensors.ts";
import { requireFiniteWeights } from "./finite_weights.ts";
import { graphShapes } from "./shapes.ts";

/**
 * Loads and validates a model folder: every parameter the graph names must be in the weights, every
 * weight finite, and the manifest's input and class count those of the graph.
 */
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
  requireFiniteWeights(weights, weightsPath);
  const [c, h, w] = graph.input.shape;
  const { channels, height, width } = manifest.input;
  if (c !== channels || h !== height || w !== width) {
    throw new InputError(
      `${dir}: manifest input [${channels},${height},${width}] disagrees with graph input [${c},${h},${w}]`,
    );
  }
  // Checked once here: a class list longer than the logits would audit into an empty confusion
  // matrix, a shorter one fail only after the whole run.
  const graphPath = join(dir, "graph.json");
  let shapes: Map<string, number[]>;
  try {
    shapes = graphShapes(graph, (name) => weights.get(name)!.shape, 1);
  } catch (e) {
    // A node's shapes disagree, or a window outgrows its input: the graph file is at fault.
    throw new InputError(`${graphPath}: ${(e as Error).message}`);
  }
  const [, ...logits] = shapes.get(graph.output)!;
  if (logits.length !== 1) {
    throw new InputError(`${graphPath}: output "${graph.output}" is [N, ${logits}], not [N, classes]`);
  }
  if (logits[0] !== manifest.classes.length) {
    throw new InputError(
      `${join(dir, "manifest.json")}: lists ${manifest.classes.length} classes but the graph's output ` +
        `"${graph.output}" gives ${logits[0]} logits`,
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
