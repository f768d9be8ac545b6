/**
 * The torchvision families as tests/torchvision_families.py exports them (one model per torchvision
 * 0.14 classification family, seeded random weights, ONNX opset 17 with a dynamic batch), and what
 * the family test, the audit test and the bench do with them: import through the tool's own loader,
 * run forward and the input gradient of the mean cross-entropy on the GPU executor, and compare
 * with PyTorch's figures.
 */
import { join } from "node:path";
import type { Gpu } from "../kernels/gpu.ts";
import { readNpy } from "../pipeline/formats/npy.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { crossEntropyGradients } from "./executor_gradients.ts";

/** Every torchvision classification family, as the exporter names them. */
export const FAMILIES = [
  "alexnet",
  "vgg11_bn",
  "resnet18",
  "resnet50",
  "resnext50_32x4d",
  "wide_resnet50_2",
  "densenet121",
  "squeezenet1_1",
  "googlenet",
  "inception_v3",
  "mobilenet_v2",
  "mobilenet_v3_small",
  "shufflenet_v2_x0_5",
  "mnasnet0_5",
  "efficientnet_b0",
  "efficientnet_v2_s",
  "regnet_x_400mf",
  "regnet_y_400mf",
  "convnext_tiny",
  "vit_b_16",
  "swin_t",
] as const;

export type Family = typeof FAMILIES[number];

/** "test": the small variants the test suite checks; "full": torchvision's models at 224x224, 1,000 classes. */
export type Scale = "test" | "full";

/** What the exporter wrote for one family, or why it could not. */
export type ExportEntry = {
  variant: string;
  input: [number, number, number];
  classes: number;
  labels: number[];
  parameters: number;
  /** The logits' spread between the two images over their spread overall (near 0: the same for both). */
  imageDependence: number;
  /** PyTorch's own float32 input gradient's relative L2 error against its float64 one: what float32 can reach. */
  float32Floor: number;
  seconds: number;
} | { error: string };

export interface Exported {
  dir: string;
  entries: Record<string, ExportEntry>;
}

const SCRIPT = new URL("./torchvision_families.py", import.meta.url).pathname;

/** Runs tests/torchvision_families.py with `args`; throws with its standard error if it fails. */
async function script(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("/usr/bin/python3", {
    args: [SCRIPT, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`torchvision_families.py ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

/** Runs the exporter for `families` into `dir` (a fresh temporary folder by default). */
export async function exportFamilies(scale: Scale, families: readonly string[], dir?: string): Promise<Exported> {
  const out = dir ?? await Deno.makeTempDir({ prefix: `torchvision-${scale}-` });
  await script(["export", out, scale, families.join(",")]);
  return { dir: out, entries: JSON.parse(await Deno.readTextFile(join(out, "families.json"))) };
}

/** PyTorch's view of one audited image: its label, top-5 classes and their probabilities. */
export interface ExpectedImage {
  label: number;
  top: number[];
  probs: number[];
}

/**
 * After a full-scale export of `family` into `dir`: scikit-image's photos as the ImageNet folder
 * `dir/val` (even-numbered images labelled with PyTorch's top-1), the family's sidecar over 1,000
 * WordNet classes with torchvision's preprocessing, and what PyTorch predicts for each image.
 */
export async function auditPhotos(dir: string, family: string): Promise<ExpectedImage[]> {
  await script(["photos", dir, family]);
  return JSON.parse(await Deno.readTextFile(join(dir, "expected.json")));
}

/** The exported files of one family. */
export function familyFiles(dir: string, family: string): { onnx: string; x: string; logits: string; grad: string } {
  const base = join(dir, family);
  return { onnx: `${base}.onnx`, x: `${base}.x.npy`, logits: `${base}.logits.npy`, grad: `${base}.grad.npy` };
}

/** Reads one of the exporter's .npy arrays (float64 ones rounded to float32). */
export async function readArray(path: string): Promise<Float32Array> {
  return readNpy(await Deno.readFile(path), path).data;
}

/** max |ours - ref| / max |ref|: the logits' error relative to their scale. */
export function relativeMaxError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`${ours.length} values against ${ref.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

/** ||ours - ref||_2 / ||ref||_2. */
export function relativeL2(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`${ours.length} values against ${ref.length}`);
  let diff = 0, norm = 0;
  for (let i = 0; i < ref.length; i++) {
    diff += (ours[i] - ref[i]) ** 2;
    norm += ref[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

/**
 * Imports one exported family through the tool's loader and runs it at the batch the exporter
 * wrote: logits, and the input gradient of the mean cross-entropy for `labels`.
 */
export async function runFamily(
  gpu: Gpu,
  dir: string,
  family: string,
  labels: number[],
): Promise<{ logits: Float32Array; gradient: Float32Array }> {
  const files = familyFiles(dir, family);
  const { files: model } = await loadModel(files.onnx);
  using exec = await Executor.create(gpu, model);
  return crossEntropyPass(exec, await readArray(files.x), labels);
}

/** One forward and backward pass of `exec` on images `x` (one per label): logits and input gradient. */
export async function crossEntropyPass(
  exec: Executor,
  x: Float32Array,
  labels: number[],
): Promise<{ logits: Float32Array; gradient: Float32Array }> {
  const shape = [labels.length, ...exec.graph.input.shape];
  const read = await crossEntropyGradients(exec.gpu, exec, x, shape, labels, { params: false });
  return { logits: read.logits, gradient: read.input };
}

/** The first line of an error's message (the importer lists every unsupported node on it). */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}
