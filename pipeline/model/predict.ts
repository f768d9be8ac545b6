/**
 * `predict`: logits for a batch of images and, given labels, the gradient of the mean
 * cross-entropy with respect to the input (the contract in DESIGN.md).
 *
 * @example
 * ```ts
 * await predictFile({ model: "fixtures/models/digits", input: "x.npy", out: "r.json", gradLabels: [3] });
 * ```
 */
import { dirname } from "node:path";
import { Gpu } from "../../kernels/gpu.ts";
import { readNpy } from "../formats/npy.ts";
import { pathExists, readInputFile, writeAtomic } from "../io/files.ts";
import { describeNonFinite, firstNonFinite } from "../io/finite.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";
import { Executor } from "./executor.ts";
import { loadModel } from "./load_model.ts";
import { recordCrossEntropyGradient } from "./loss.ts";

export interface PredictResult {
  logits: number[][];
  /** d(mean cross-entropy)/d(input), flattened NCHW; present when labels were given. */
  inputGradient?: number[];
}

/** Images per GPU step; the mean over all images is assembled from the chunks. */
const CHUNK = 64;

/** Runs the model on NCHW float32 images (in the model's input range). */
export async function predict(
  exec: Executor,
  input: { shape: number[]; data: Float32Array },
  gradLabels?: number[],
): Promise<PredictResult> {
  const [n, ...chw] = input.shape;
  const expected = exec.graph.input.shape;
  if (input.shape.length !== 4 || chw.some((d, i) => d !== expected[i])) {
    throw new InputError(`input is [${input.shape}] but the model takes [N, ${expected}] (NCHW)`);
  }
  const classes = exec.outputShape(1)[1];
  if (gradLabels) {
    if (gradLabels.length !== n) throw new InputError(`--grad-labels has ${gradLabels.length} labels for ${n} images`);
    const bad = gradLabels.find((l) => !Number.isInteger(l) || l < 0 || l >= classes);
    if (bad !== undefined) {
      throw new InputError(`--grad-labels: label ${bad} is not a class index in 0..${classes - 1}`);
    }
  }
  const perImage = sizeOf(chw);
  const gpu = exec.gpu;
  const logits: number[][] = [];
  const gradient = gradLabels ? new Float32Array(input.data.length) : null;
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    using x = gpu.tensor([count, ...chw], input.data.subarray(start * perImage, (start + count) * perImage));
    if (gradLabels) {
      using labels = gpu.tensor([count], gradLabels.slice(start, start + count), "u32");
      let result!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => {
        result = recordCrossEntropyGradient(step, exec, x, labels, { input: true });
      });
      using _ = result;
      // Logits and gradient come back in one readback.
      const [logitBytes, gradBytes] = await gpu.readMany([result.logits, result.grads.input!]);
      pushRows(logits, new Float32Array(logitBytes), classes);
      // The kernel's gradient is of this chunk's mean; the contract is the mean over all n.
      const chunkGrad = new Float32Array(gradBytes);
      const scale = count / n;
      for (let i = 0; i < chunkGrad.length; i++) gradient![start * perImage + i] = chunkGrad[i] * scale;
    } else {
      let out!: ReturnType<typeof exec.forward>;
      await gpu.run((step) => {
        out = exec.forward(step, x);
      });
      using _ = out;
      pushRows(logits, await gpu.read(out), classes);
    }
  }
  return gradient ? { logits, inputGradient: Array.from(gradient) } : { logits };
}

/** What `deno task predict` does: read an .npy batch, run a model folder or .onnx file, write the result. */
export interface PredictFileOptions {
  /** A model folder or an .onnx file. */
  model: string;
  /** The .onnx file's sidecar (default: FILE.onnx.json). */
  sidecar?: string;
  /** NCHW float32 images in the model's input range. */
  input: string;
  /** Where `{"logits", "inputGradient"}` is written (atomically). */
  out: string;
  /** One class per image: the gradient of the mean cross-entropy for these labels is written too. */
  gradLabels?: number[];
  /** Overwrite `out` if it exists. */
  force?: boolean;
}

/** Runs `predict` from files to a file; a bad path, shape, label or a non-finite pixel is an InputError. */
export async function predictFile(options: PredictFileOptions): Promise<void> {
  await checkOutFile(options.out, options.force ?? false);
  const { files } = await loadModel(options.model, { sidecar: options.sidecar });
  const input = readNpy(await readInputFile(options.input), options.input);
  const at = firstNonFinite(input.data);
  if (at >= 0) {
    // The kernels can turn NaN pixels into finite, confident-looking logits: refuse them here.
    throw new InputError(`${options.input}: ${describeNonFinite(input.data, input.shape, at)}; images must be finite`);
  }
  using gpu = await Gpu.create();
  using exec = await Executor.create(gpu, files);
  const result = await predict(exec, input, options.gradLabels);
  await writeAtomic(options.out, new TextEncoder().encode(JSON.stringify(result)));
}

/** Refuses an --out the result could not be written to, before the model runs rather than after. */
async function checkOutFile(out: string, force: boolean): Promise<void> {
  const folder = dirname(out);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(folder);
  } catch {
    throw new InputError(`--out ${out}: its folder ${folder} does not exist`);
  }
  if (!info.isDirectory) throw new InputError(`--out ${out}: ${folder} is not a folder`);
  if (!(await pathExists(out))) return;
  if ((await Deno.stat(out)).isDirectory) throw new InputError(`--out ${out}: is a folder; name the file to write`);
  if (!force) throw new InputError(`${out} exists: pass --force to overwrite it`);
}

function pushRows(into: number[][], flat: Float32Array, width: number): void {
  for (let i = 0; i < flat.length; i += width) into.push(Array.from(flat.subarray(i, i + width)));
}
