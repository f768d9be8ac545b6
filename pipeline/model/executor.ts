/**
 * Runs a model graph on the GPU: forward (optionally keeping what backward needs, a "tape") and
 * backward, producing gradients with respect to the input image and every parameter.
 *
 * Everything is recorded into the caller's step: a whole forward + loss + backward is one
 * command encoder with no readback between layers. The image enters in the model's input range;
 * the manifest's normalisation is the first thing recorded, so input gradients are in image space.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import type { Tensor } from "../../kernels/tensor.ts";
 * import { loadModelFolder } from "./model_folder.ts";
 * declare const image: Float32Array;
 * const gpu = await Gpu.create();
 * const exec = await Executor.create(gpu, await loadModelFolder("fixtures/models/digits"));
 * using x = gpu.tensor([1, 1, 28, 28], image);
 * let logits: Tensor | undefined;
 * await gpu.run((step) => { logits = exec.forward(step, x); });
 * console.log(await gpu.read(logits!));
 * ```
 */
import type { Gpu, Step } from "../../kernels/gpu.ts";
import { recordBatchNorm, recordBatchNormBackward } from "../../kernels/batch_norm.ts";
import { recordAccumulate } from "../../kernels/elementwise.ts";
import { compileEngineKernels, type EngineKernels } from "../../kernels/mod.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import { type Graph, type GraphNode, parameterNames } from "./graph.ts";
import { type BackwardOutput, type Layer, type LayerContext, LAYERS } from "./layers.ts";
import { elementwiseSelection } from "./layers/elementwise.ts";
import { graphShapes } from "./shapes.ts";
import { tapeValues } from "./tape_needs.ts";
import { activationFootprint } from "./footprint.ts";
import { InputError } from "../io/input_error.ts";
import type { Manifest } from "./manifest.ts";
import type { HostTensor } from "./model_files.ts";

/** What a model needs to run: its graph, weights and the manifest's normalisation. */
export interface ExecutableModel {
  graph: Graph;
  weights: Map<string, HostTensor>;
  manifest: Pick<Manifest, "normalization">;
}

/** The values a forward pass kept for backward. Dispose it when done. */
export class Tape implements Disposable {
  constructor(
    readonly batch: number,
    readonly values: Map<string, Tensor>,
    readonly saved: Map<string, Tensor[]>,
    readonly input: TensorLike,
    readonly outputName: string,
    /** Whether the forward ran in training mode (backward follows it). */
    readonly training: boolean,
    /** What the tape kept: every value, or what a backward with or without parameter gradients reads. */
    readonly keep: TapeKeep = "all",
  ) {}

  /** The model's output (logits). Owned by the tape. */
  get output(): Tensor {
    return this.values.get(this.outputName)!;
  }

  dispose(): void {
    for (const t of this.values.values()) t.dispose();
    for (const list of this.saved.values()) list.forEach((t) => t.dispose());
    this.values.clear();
    this.saved.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Gradients from a backward pass: w.r.t. the input image (if asked) and each parameter (if asked). */
export interface Gradients extends Disposable {
  input: Tensor | null;
  params: Map<string, Tensor>;
  /** Gradients w.r.t. the values named in `BackwardOptions.at`, by name (zeros where the output does not depend on one). */
  at: Map<string, Tensor>;
}

/**
 * What a tape keeps: every value ("all", the default: explanations read intermediate activations),
 * what a backward with parameter gradients reads ("backward"), only what the input gradient needs
 * ("input-gradient"; see tape_needs.ts), or only the values named (`{ values }`, to read features;
 * no backward then).
 */
export type TapeKeep = "all" | "backward" | "input-gradient" | { values: readonly string[] };

export interface BackwardOptions {
  /** Gradient w.r.t. the input image (default true). */
  input?: boolean;
  /** Gradients w.r.t. every parameter (default false). */
  params?: boolean;
  /**
   * Node outputs whose gradients to return (Grad-CAM's layer). Without the input's and the
   * parameters' gradients, backward stops once it has them all.
   */
  at?: readonly string[];
}

export class Executor implements Disposable {
  /** The model's parameters on the GPU, by name (an optimiser may update them in place). */
  readonly params: Map<string, Tensor>;
  #shapes = new Map<number, Map<string, number[]>>();
  #norm: { gamma: Tensor; beta: Tensor; mean: Tensor; variance: Tensor };

  private constructor(
    readonly gpu: Gpu,
    readonly graph: Graph,
    readonly kernels: EngineKernels,
    params: Map<string, Tensor>,
    normalization: Manifest["normalization"],
  ) {
    this.params = params;
    const c = graph.input.shape[0];
    this.#norm = {
      gamma: gpu.tensor([c], new Array(c).fill(1)),
      beta: gpu.tensor([c], new Array(c).fill(0)),
      mean: gpu.tensor([c], normalization.mean),
      variance: gpu.tensor([c], normalization.std.map((s) => s * s)),
    };
  }

  /** Uploads the weights and compiles every kernel; checks shapes once at batch size 1. */
  static async create(gpu: Gpu, model: ExecutableModel): Promise<Executor> {
    const kernels = await compileEngineKernels(gpu, elementwiseSelection(model.graph));
    const params = new Map<string, Tensor>();
    for (const name of new Set(model.graph.nodes.flatMap(parameterNames))) {
      const host = model.weights.get(name);
      if (!host) throw new InputError(`weights: missing parameter "${name}"`);
      params.set(name, gpu.tensor(host.shape, host.data));
    }
    const exec = new Executor(gpu, model.graph, kernels, params, model.manifest.normalization);
    try {
      exec.shapes(1);
    } catch (e) {
      exec.dispose();
      throw e;
    }
    return exec;
  }

  /** Shapes of every value at a batch size; shape errors name the node and both shapes. */
  shapes(batch: number): Map<string, number[]> {
    let shapes = this.#shapes.get(batch);
    if (shapes) return shapes;
    shapes = graphShapes(this.graph, (name) => [...this.params.get(name)!.shape], batch);
    this.#shapes.set(batch, shapes);
    return shapes;
  }

  /** Output shape for a batch, e.g. [batch, classes]. */
  outputShape(batch: number): number[] {
    return this.shapes(batch).get(this.graph.output)!;
  }

  /** Records a forward pass and returns the output; intermediates are freed as soon as unused. */
  forward(step: Step, x: TensorLike): Tensor {
    const tape = this.#run(step, x, null);
    const out = tape.output;
    tape.values.delete(tape.outputName);
    tape.dispose();
    return out;
  }

  /**
   * Records a forward pass that keeps values for `backward`: every one unless `keep` asks for less
   * (see TapeKeep). With `training`, batch norm uses batch statistics and updates its running
   * statistics (and backward must be told too).
   */
  forwardWithTape(step: Step, x: TensorLike, options: { training?: boolean; keep?: TapeKeep } = {}): Tape {
    return this.#run(step, x, options.keep ?? "all", options.training ?? false);
  }

  #run(step: Step, x: TensorLike, keep: TapeKeep | null, training = false): Tape {
    const batch = x.shape[0];
    const expected = [batch, ...this.graph.input.shape];
    if (x.shape.length !== 4 || x.shape.some((d, i) => d !== expected[i])) {
      throw new InputError(`model input must be [${expected.join(", ")}] (NCHW), got [${x.shape.join(", ")}]`);
    }
    const shapes = this.shapes(batch);
    const ctx = this.#context(step, training);
    const values = new Map<string, Tensor>();
    const saved = new Map<string, Tensor[]>();
    const normalized = ctx.alloc(expected);
    recordBatchNorm(step, this.kernels.batchNorm, { x, y: normalized, ...this.#norm, eps: 0 });
    values.set(this.graph.input.name, normalized);

    const lastUse = keep === "all" ? null : this.#lastUses();
    const kept = keep === null || keep === "all"
      ? new Set<string>()
      : typeof keep === "object"
      ? new Set(keep.values)
      : tapeValues(this.graph, { params: keep === "backward", training });
    this.graph.nodes.forEach((node, i) => {
      const inputs = node.inputs.map((name) => values.get(name)!);
      const inputShapes = node.inputs.map((name) => shapes.get(name)!);
      const out = this.#layer(node).forward(ctx, node, inputs, inputShapes, shapes.get(node.name)!);
      values.set(node.name, out.output);
      if (out.saved) {
        if (keep !== null && typeof keep !== "object") saved.set(node.name, out.saved);
        else out.saved.forEach((t) => t.dispose());
      }
      if (lastUse) {
        // Free inputs read for the last time here, and this node's output if nothing reads it.
        const dead = [...new Set(node.inputs)].filter((name) => lastUse.get(name) === i);
        if (!lastUse.has(node.name) && node.name !== this.graph.output) dead.push(node.name);
        for (const name of dead.filter((name) => !kept.has(name))) {
          values.get(name)!.dispose();
          values.delete(name);
        }
      }
    });
    return new Tape(batch, values, saved, x, this.graph.output, training, keep ?? "all");
  }

  /**
   * Records the backward pass from `dOutput` (gradient of the loss w.r.t. the output). The caller
   * owns the returned gradients; the tape is left intact.
   */
  backward(step: Step, tape: Tape, dOutput: TensorLike, options: BackwardOptions = {}): Gradients {
    const wantInputGrad = options.input ?? true;
    const wantParams = options.params ?? false;
    if (typeof tape.keep === "object" || (wantParams && tape.keep === "input-gradient")) {
      throw new Error(`backward: the tape was kept for ${JSON.stringify(tape.keep)}, not for these gradients`);
    }
    const shapes = this.shapes(tape.batch);
    const ctx = this.#context(step, tape.training);
    const grads = new Map<string, Tensor>();
    const paramGrads = new Map<string, Tensor>();
    const accumulate = (into: Map<string, Tensor>, name: string, g: Tensor) => {
      const existing = into.get(name);
      if (!existing) return into.set(name, g);
      recordAccumulate(step, this.kernels.elementwise, { acc: existing, x: g });
      g.dispose();
    };
    const inputName = this.graph.input.name;
    const at = this.#keptGradients(options.at ?? [], shapes, ctx);
    const pending = new Set(at.keys());

    for (let i = this.graph.nodes.length - 1; i >= 0; i--) {
      const node = this.graph.nodes[i];
      const dy = node.name === this.graph.output ? dOutput : grads.get(node.name);
      if (dy && at.has(node.name)) recordAccumulate(step, this.kernels.elementwise, { acc: at.get(node.name)!, x: dy });
      // Every requested gradient is complete once its node is reached (its readers come after it).
      if (pending.delete(node.name) && pending.size === 0 && !wantInputGrad && !wantParams) break;
      if (!dy) continue; // the loss does not depend on this node
      const result: BackwardOutput = this.#layer(node).backward(ctx, node, {
        inputs: node.inputs.map((n) => tape.values.get(n)),
        inputShapes: node.inputs.map((n) => shapes.get(n)!),
        output: tape.values.get(node.name),
        saved: tape.saved.get(node.name) ?? [],
        dy,
        wantInput: node.inputs.map((n) => n !== inputName || wantInputGrad),
        wantParams,
      });
      if (node.name !== this.graph.output) {
        grads.get(node.name)!.dispose();
        grads.delete(node.name);
      }
      result.inputs.forEach((g, j) => g && accumulate(grads, node.inputs[j], g));
      for (const [name, g] of result.params) accumulate(paramGrads, name, g);
    }

    let input: Tensor | null = null;
    const dNormalized = grads.get(inputName);
    if (wantInputGrad && dNormalized) {
      input = ctx.alloc(tape.input.shape);
      recordBatchNormBackward(step, this.kernels.batchNorm, {
        dy: dNormalized,
        dx: input,
        variance: this.#norm.variance,
        gamma: this.#norm.gamma,
        eps: 0,
      });
    }
    for (const g of grads.values()) g.dispose();
    return {
      input,
      params: paramGrads,
      at,
      [Symbol.dispose]() {
        input?.dispose();
        for (const g of paramGrads.values()) g.dispose();
        for (const g of at.values()) g.dispose();
      },
    };
  }

  /** Zeroed gradients of the named node outputs, which backward accumulates into as it reaches them. */
  #keptGradients(names: readonly string[], shapes: Map<string, number[]>, ctx: LayerContext): Map<string, Tensor> {
    const kept = new Map<string, Tensor>();
    for (const name of names) {
      const shape = shapes.get(name);
      if (!shape || name === this.graph.input.name) throw new InputError(`backward: the model has no node "${name}"`);
      const g = ctx.alloc(shape);
      ctx.step.clear(g);
      kept.set(name, g);
    }
    return kept;
  }

  /** Copies every parameter back to the host (to save a trained model). */
  async readParams(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, t] of this.params) out.set(name, { shape: [...t.shape], data: await this.gpu.read(t) });
    return out;
  }

  #context(step: Step, training = false): LayerContext {
    return {
      step,
      training,
      kernels: this.kernels,
      alloc: (shape, dtype) => this.gpu.tensor(shape, undefined, dtype),
      param: (name) => this.params.get(name)!,
    };
  }

  #layer(node: GraphNode): Layer {
    return LAYERS[node.op] as Layer;
  }

  /** Index of the last node reading each value (the graph output is never freed). */
  #lastUses(): Map<string, number> {
    const last = new Map<string, number>();
    this.graph.nodes.forEach((node, i) => node.inputs.forEach((name) => last.set(name, i)));
    last.delete(this.graph.output);
    return last;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    for (const t of Object.values(this.#norm)) t.dispose();
    this.params.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * GPU bytes per image of a forward pass that keeps its tape (`keep`, every value unless told)
 * plus the input gradient's backward, at its peak (see footprint.ts).
 */
export function bytesPerImage(exec: Executor, keep: TapeKeep = "all"): number {
  return activationFootprint(exec.graph, exec.shapes(1), (name) => exec.params.get(name)!.shape, keep);
}
