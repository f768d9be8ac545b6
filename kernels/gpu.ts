/**
 * The GPU runtime: adapter and device acquisition, kernel compilation with error scopes,
 * command recording (a whole forward or backward pass in one encoder) and readback.
 */
import tgpu, { type TgpuBuffer, type TgpuRoot } from "typegpu";
import type * as d from "typegpu/data";
import { adapterDriver, checkCachedAdapter, chooseBackend } from "./backend.ts";
import { DeviceLostError, GpuError, NoAdapterError } from "./errors.ts";
import {
  type Bindings,
  type Kernel,
  type KernelEntries,
  type KernelSpec,
  resolveWgsl,
  UniformWindow,
} from "./kernel.ts";
import { BufferPool, type DType, Tensor, type TensorLike } from "./tensor.ts";

/** How the WebGPU backend the process runs was chosen. */
export type BackendChoice = "explicit" | "probed" | "cached" | "hardware" | "default";

/** What the audit reports about the adapter it ran on. */
export interface AdapterReport {
  description: string;
  vendor: string;
  architecture: string;
  isFallbackAdapter: boolean;
  /** The backend the process runs, as `DENO_WEBGPU_BACKEND` names it ("vulkan", "gl", ...); "default" when unset. */
  backend: string;
  /** What is known of the adapter's driver, e.g. "Mesa 22.3.6-1+deb12u2" ("" when unknown; see `adapterDriver`). */
  driver: string;
  /**
   * How `backend` was chosen (see `kernels/backend.ts`): set by the user, measured now, a measurement
   * read from the cache (or the parent process's), a hardware adapter (found now or cached), or
   * Deno's default.
   */
  backendChoice: BackendChoice;
}

/** What `Gpu.create` takes: the adapter request, and a cap on binding sizes for tests. */
export interface GpuOptions extends GPURequestAdapterOptions {
  /**
   * Treat storage bindings larger than this many bytes as over the adapter's limit (lower only):
   * tests set it small so that small tensors take the paths that split large ones.
   */
  maxBindingBytes?: number;
}

/** Limits requested from the adapter: as high as it allows, since defaults are low. */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxStorageBuffersPerShaderStage",
] as const;

/** Largest workgroup count along one dispatch dimension (WebGPU's guaranteed minimum). */
export const MAX_WORKGROUPS_PER_DIM = 65535;

type UniformBuffer = TgpuBuffer<d.AnyWgslData>;

/** The device, its buffer pool and its compiled kernels. One per process is typical. */
export class Gpu implements Disposable {
  readonly pool: BufferPool;
  readonly root: TgpuRoot;
  #kernels = new Map<KernelSpec, Promise<Kernel>>();
  #uniforms = new Map<d.AnyWgslData, UniformBuffer[]>();
  #lost: string | null = null;
  #lostPromise: Promise<never>;
  /** A one-element array to bind where a kernel's optional input is absent (never written). */
  readonly placeholder: Tensor;

  #staging = new Map<number, GPUBuffer[]>();
  #otherCreations = 0;
  readonly #maxBindingBytes: number;

  private constructor(readonly device: GPUDevice, readonly adapter: AdapterReport, maxBindingBytes = Infinity) {
    this.#maxBindingBytes = maxBindingBytes;
    this.pool = new BufferPool(device);
    this.placeholder = new Tensor(new BufferPool(device), [1]);
    this.root = tgpu.initFromDevice({ device });
    this.#lostPromise = device.lost.then((info) => {
      this.#lost = info.message || info.reason || "unknown reason";
      throw new DeviceLostError(this.#lost);
    });
    this.#lostPromise.catch(() => {}); // observed by whoever awaits GPU work
  }

  /** Acquires an adapter and a device with the limits the kernels need (the adapter's highest). */
  static async create(options: GpuOptions = { powerPreference: "high-performance" }): Promise<Gpu> {
    // Deno reads the backend's variable at the process's first adapter request: choose it before.
    const decision = await chooseBackend();
    const adapter = await navigator.gpu?.requestAdapter(options);
    if (!adapter) {
      await checkCachedAdapter(decision, null);
      throw new NoAdapterError();
    }
    const info = adapter.info;
    const description = info.description || info.device || "unknown adapter";
    await checkCachedAdapter(decision, description);
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
    // Timestamps cost nothing unless written; benchmarks time GPU work with them where offered.
    const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query") ? ["timestamp-query"] : [];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    return new Gpu(device, {
      description,
      vendor: info.vendor,
      architecture: info.architecture,
      isFallbackAdapter: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        // deno-lint-ignore no-explicit-any
        ((adapter as any).isFallbackAdapter ?? false),
      backend: decision.backend,
      driver: adapterDriver(info),
      backendChoice: decision.choice,
    }, options.maxBindingBytes);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /**
   * The most bytes one storage binding may span: the device's `maxStorageBufferBindingSize`
   * (128 MiB on llvmpipe, whose buffers may reach 2 GiB), or the test cap of `Gpu.create`.
   */
  get bindingLimit(): number {
    return Math.min(this.limits.maxStorageBufferBindingSize, this.#maxBindingBytes);
  }

  /**
   * What the device holds: GPU buffers ever created (storage, staging and uniform: constant once
   * batches repeat), bytes of live tensors and their high-water mark, and bytes the pool holds.
   */
  get memory(): { creations: number; liveBytes: number; peakLiveBytes: number; pooledBytes: number } {
    const { creations, liveBytes, peakLiveBytes, pooledBytes } = this.pool;
    return { creations: creations + this.#otherCreations, liveBytes, peakLiveBytes, pooledBytes };
  }

  /** Starts a new high-water mark of live bytes from what is live now (see `peakBytesPerImage`). */
  resetPeak(): void {
    this.pool.resetPeak();
  }

  /** A tensor of the given shape, filled from `data` when given (otherwise contents undefined). */
  tensor(shape: readonly number[], data?: ArrayLike<number>, dtype: DType = "f32"): Tensor {
    this.#checkAlive();
    const t = new Tensor(this.pool, shape, dtype);
    if (data) {
      if (data.length !== t.size) {
        t.dispose();
        throw new Error(`tensor [${shape}] needs ${t.size} values, got ${data.length}`);
      }
      const array = dtype === "u32" ? Uint32Array.from(data) : Float32Array.from(data);
      this.device.queue.writeBuffer(t.buffer, 0, array);
    }
    return t;
  }

  /** A tensor of zeros. */
  zeros(shape: readonly number[]): Tensor {
    const t = this.tensor(shape);
    const encoder = this.device.createCommandEncoder();
    encoder.clearBuffer(t.buffer, 0, alignTo4(t.byteLength));
    this.device.queue.submit([encoder.finish()]);
    return t;
  }

  /** Overwrites a tensor's contents from the CPU. */
  write(t: TensorLike, data: ArrayLike<number>): void {
    if (data.length !== t.size) throw new Error(`write of ${data.length} values into tensor [${t.shape}]`);
    const array = t.dtype === "u32" ? Uint32Array.from(data) : Float32Array.from(data);
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, array);
  }

  /** Compiles a kernel once; WGSL errors come back as a GpuError naming the kernel and line. */
  kernel<E extends KernelEntries>(spec: KernelSpec<E>): Promise<Kernel<E>> {
    let compiled = this.#kernels.get(spec as unknown as KernelSpec);
    if (!compiled) {
      compiled = this.#compile(spec as unknown as KernelSpec);
      this.#kernels.set(spec as unknown as KernelSpec, compiled);
    }
    return compiled as unknown as Promise<Kernel<E>>;
  }

  async #compile(spec: KernelSpec): Promise<Kernel> {
    this.#checkAlive();
    const wgsl = resolveWgsl(spec);
    const bindGroupLayout = this.root.unwrap(spec.layout);
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ label: spec.name, code: wgsl });
    const pipeline = this.device.createComputePipeline({
      label: spec.name,
      layout: this.device.createPipelineLayout({ label: spec.name, bindGroupLayouts: [bindGroupLayout] }),
      compute: { module, entryPoint: spec.entryPoint ?? "main" },
    });
    const error = await this.device.popErrorScope();
    if (error) {
      const info = await module.getCompilationInfo();
      const details = info.messages.map((m) => `line ${m.lineNum}: ${m.message}`).join("; ");
      throw new GpuError(spec.name, "compile", details || error.message);
    }
    return { spec, pipeline, bindGroupLayout };
  }

  /**
   * Records GPU work into one command encoder and submits it. A validation error is thrown as a
   * GpuError naming the kernel (and, where it can be told, the binding) that caused it; an
   * out-of-memory error names the kernels recorded.
   */
  async run(record: (step: Step) => void): Promise<void> {
    this.#checkAlive();
    const step = new Step(this);
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let recordError: unknown = null;
    try {
      record(step);
      this.device.queue.submit([step.finish()]);
    } catch (e) {
      recordError = e; // nothing is submitted; the scopes below are still popped
    }
    step.release();
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (recordError) throw recordError;
    this.#checkAlive();
    if (validation) throw await step.blame(validation.message);
    if (oom) throw new GpuError(step.kernelNames.join(", "), "out-of-memory", oom.message);
  }

  /** Copies a tensor back to the CPU. */
  async read(t: TensorLike): Promise<Float32Array> {
    const bytes = await this.readBytes(t);
    return new Float32Array(bytes);
  }

  /** Copies a u32 tensor back to the CPU. */
  async readU32(t: TensorLike): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(t));
  }

  async readBytes(t: TensorLike): Promise<ArrayBuffer> {
    return (await this.readMany([t]))[0];
  }

  /**
   * Copies several tensors back to the CPU with one copy pass and one map (a map is a full sync,
   * so a batch's results come back together rather than one round trip each).
   *
   * @example
   * ```ts
   * const gpu = await Gpu.create();
   * const loss = gpu.tensor([1], [0.5]), labels = gpu.tensor([2], [3, 1], "u32");
   * const [lossBytes, labelBytes] = await gpu.readMany([loss, labels]);
   * console.log(new Float32Array(lossBytes), new Uint32Array(labelBytes)); // [0.5] [3, 1]
   * ```
   */
  async readMany(tensors: readonly TensorLike[]): Promise<ArrayBuffer[]> {
    this.#checkAlive();
    const offsets: number[] = [];
    let size = 0;
    for (const t of tensors) {
      offsets.push(size);
      size += alignTo4(t.size * 4);
    }
    const staging = this.#acquireStaging(size);
    let reusable = false;
    try {
      const encoder = this.device.createCommandEncoder();
      tensors.forEach((t, i) =>
        encoder.copyBufferToBuffer(t.buffer, t.byteOffset, staging, offsets[i], alignTo4(t.size * 4))
      );
      this.device.queue.submit([encoder.finish()]);
      await Promise.race([staging.mapAsync(GPUMapMode.READ), this.#lostPromise]).catch((e) => this.#explain(e));
      const mapped = staging.getMappedRange(0, Math.max(4, size));
      const out = tensors.map((t, i) => mapped.slice(offsets[i], offsets[i] + t.size * 4));
      staging.unmap();
      reusable = true;
      return out;
    } finally {
      if (reusable) this.#staging.get(staging.size)!.push(staging);
      else staging.destroy();
    }
  }

  /** A read-back buffer of at least `bytes`, reused across reads (power-of-two sizes, as the pool's). */
  #acquireStaging(bytes: number): GPUBuffer {
    let size = 256;
    while (size < bytes) size *= 2;
    const free = this.#staging.get(size) ?? [];
    this.#staging.set(size, free);
    const reused = free.pop();
    if (reused) return reused;
    this.#otherCreations++;
    return this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Waits until all submitted work is done (for benchmarks; reads already wait). */
  async sync(): Promise<void> {
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.#lostPromise]);
  }

  /** @internal a pooled uniform buffer for a params struct. */
  acquireUniform(schema: d.AnyWgslData): UniformBuffer {
    const reused = this.#uniforms.get(schema)?.pop();
    if (reused) return reused;
    this.#otherCreations++;
    return this.root.createBuffer(schema).$usage("uniform") as unknown as UniformBuffer;
  }

  /** @internal returns a uniform buffer; safe right after submit since the queue keeps order. */
  releaseUniform(schema: d.AnyWgslData, buffer: UniformBuffer): void {
    const list = this.#uniforms.get(schema) ?? [];
    list.push(buffer);
    this.#uniforms.set(schema, list);
  }

  /**
   * Rethrows a failed GPU call, as DeviceLostError when the device was lost: a map on a destroyed
   * device fails before its loss is announced, so wait briefly for the announcement.
   */
  async #explain(error: unknown): Promise<never> {
    if (!(error instanceof DeviceLostError)) {
      const settled = new Promise<void>((resolve) => setTimeout(resolve, 200));
      await Promise.race([this.#lostPromise, settled]).catch(() => {});
    }
    if (this.#lost !== null) throw new DeviceLostError(this.#lost);
    throw error;
  }

  #checkAlive(): void {
    if (this.#lost !== null) throw new DeviceLostError(this.#lost);
  }

  destroy(): void {
    this.pool.trim();
    for (const list of this.#staging.values()) list.forEach((buffer) => buffer.destroy());
    this.#staging.clear();
    this.root.destroy();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** One recorded dispatch: its kernel, what it bound (in the layout's order) and its grid. */
interface Dispatch {
  kernel: Kernel;
  entries: GPUBindGroupEntry[];
  workgroups: [number, number, number];
}

/**
 * The binding(s) of a failed dispatch that WebGPU's message points to: the one it numbers
 * ("binding 2"), or those bound to the buffer it names by its label (an invalid, destroyed or
 * conflicting buffer: the pool labels each of its buffers uniquely), or, for a usage conflict of an
 * unlabelled buffer, the bindings that share a buffer. Undefined where the message tells none.
 */
function blamedBinding({ kernel, entries }: Dispatch, message: string): string | undefined {
  const keys = Object.keys(kernel.spec.layout.entries);
  const named = (chosen: GPUBindGroupEntry[]) =>
    chosen.length > 0 ? chosen.map((entry) => keys[entry.binding]).join(" and ") : undefined;
  const bufferOf = (entry: GPUBindGroupEntry) => (entry.resource as GPUBufferBinding).buffer;
  const numbered = /\bbinding (\d+)\b/i.exec(message);
  if (numbered && keys[Number(numbered[1])]) return keys[Number(numbered[1])];
  const label = /Buffer with '([^']+)' label/.exec(message)?.[1];
  const labelled = named(entries.filter((entry) => label !== undefined && bufferOf(entry).label === label));
  if (labelled || !/conflicting usages/.test(message)) return labelled;
  return named(
    entries.filter((entry) => entries.some((other) => other !== entry && bufferOf(other) === bufferOf(entry))),
  );
}

/** One command encoder's worth of GPU work. Created by `Gpu.run`. */
export class Step {
  readonly encoder: GPUCommandEncoder;
  readonly kernelNames: string[] = [];
  #pass: GPUComputePassEncoder | null = null;
  /** What each dispatch bound, kept to find the one a validation error came from (see `blame`). */
  #dispatches: Dispatch[] = [];
  /** Each copy and clear, to replay alone the same way: what it was and how many dispatches preceded it. */
  #transfers: { what: string; after: number; replay: (encoder: GPUCommandEncoder) => void }[] = [];
  #uniforms: [d.AnyWgslData, UniformBuffer][] = [];

  constructor(private readonly gpu: Gpu) {
    this.encoder = gpu.device.createCommandEncoder();
  }

  /** A one-element array to bind in place of an absent optional input. */
  get placeholder(): TensorLike {
    return this.gpu.placeholder;
  }

  /** The most bytes one storage binding may span (see `Gpu.bindingLimit`). */
  get bindingLimit(): number {
    return this.gpu.bindingLimit;
  }

  /**
   * A tensor for work recorded into this step (contents undefined). Dispose it once that work is
   * recorded: commands run in order, so a later reuse of its buffer cannot overtake them.
   */
  alloc(shape: readonly number[]): Tensor {
    return this.gpu.tensor(shape);
  }

  /** Records one dispatch of a compiled kernel. */
  dispatch<E extends KernelEntries>(
    kernel: Kernel<E>,
    bindings: Bindings<E>,
    workgroups: readonly [number, number?, number?],
  ): void {
    const entries: GPUBindGroupEntry[] = [];
    Object.entries(kernel.spec.layout.entries).forEach(([key, entry], binding) => {
      const value = (bindings as Record<string, unknown>)[key];
      if ("uniform" in entry && value instanceof UniformWindow) {
        const resource = { buffer: value.tensor.buffer, offset: value.byteOffset, size: value.byteSize };
        entries.push({ binding, resource });
      } else if ("uniform" in entry) {
        const buffer = this.gpu.acquireUniform(entry.uniform as d.AnyWgslData);
        buffer.write(value as never);
        this.#uniforms.push([entry.uniform as d.AnyWgslData, buffer]);
        entries.push({ binding, resource: { buffer: this.gpu.root.unwrap(buffer) } });
      } else {
        const tensor = value as TensorLike;
        const size = alignTo4(tensor.size * 4);
        if (size > this.gpu.bindingLimit) {
          const message = `[${tensor.shape}] spans ${size.toLocaleString("en")} bytes, over the ` +
            `${this.gpu.bindingLimit.toLocaleString("en")}-byte storage binding limit`;
          throw new GpuError(kernel.spec.name, "dispatch", message, key);
        }
        entries.push({ binding, resource: { buffer: tensor.buffer, offset: tensor.byteOffset, size } });
      }
    });
    const [x, y = 1, z = 1] = workgroups;
    if (x > MAX_WORKGROUPS_PER_DIM || y > MAX_WORKGROUPS_PER_DIM || z > MAX_WORKGROUPS_PER_DIM) {
      throw new GpuError(
        kernel.spec.name,
        "dispatch",
        `workgroup count [${x}, ${y}, ${z}] exceeds ${MAX_WORKGROUPS_PER_DIM}`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return;
    const dispatch: Dispatch = { kernel: kernel as unknown as Kernel, entries, workgroups: [x, y, z] };
    this.#record(this.#pass ??= this.encoder.beginComputePass(), dispatch);
    this.#dispatches.push(dispatch);
    this.kernelNames.push(kernel.spec.name);
  }

  /** Records one dispatch into a compute pass. */
  #record(pass: GPUComputePassEncoder, { kernel, entries, workgroups }: Dispatch): void {
    const bindGroup = this.gpu.device.createBindGroup({
      label: kernel.spec.name,
      layout: kernel.bindGroupLayout,
      entries,
    });
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...workgroups);
  }

  /**
   * @internal The GpuError for a validation error of this step's encoder, which WebGPU reports for
   * the whole encoder: each dispatch is recorded again alone, in an encoder that is finished (which
   * validates it) but never submitted, until one fails. This costs nothing while nothing fails.
   */
  async blame(message: string): Promise<GpuError> {
    const device = this.gpu.device;
    for (const dispatch of this.#dispatches) {
      device.pushErrorScope("validation");
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      this.#record(pass, dispatch);
      pass.end();
      encoder.finish();
      const error = await device.popErrorScope();
      if (error) {
        return new GpuError(
          dispatch.kernel.spec.name,
          "validation",
          error.message,
          blamedBinding(dispatch, error.message),
        );
      }
    }
    // No dispatch fails alone: a copy or clear between them did.
    for (const { what, after, replay } of this.#transfers) {
      device.pushErrorScope("validation");
      const encoder = device.createCommandEncoder();
      replay(encoder);
      encoder.finish();
      const error = await device.popErrorScope();
      const where = after === 0 ? "before any kernel" : `after kernel ${this.kernelNames[after - 1]}`;
      if (error) return new GpuError(`${what} ${where}`, "validation", error.message);
    }
    const names = [...new Set(this.kernelNames)];
    return new GpuError(`copies or clears between kernels ${names.join(", ")}`, "validation", message);
  }

  /** Records a copy or clear now, and keeps it to replay alone should the encoder fail (see `blame`). */
  #transfer(what: string, replay: (encoder: GPUCommandEncoder) => void): void {
    this.#endPass();
    replay(this.encoder);
    this.#transfers.push({ what, after: this.#dispatches.length, replay });
  }

  /** Copies `src` into `dst` (same size). */
  copy(src: TensorLike, dst: TensorLike): void {
    if (src.size !== dst.size) throw new Error(`copy of [${src.shape}] into [${dst.shape}]`);
    const [from, to, bytes] = [src.buffer, dst.buffer, alignTo4(src.size * 4)];
    this.#transfer(
      `copy of [${src.shape}] into [${dst.shape}]`,
      (encoder) => encoder.copyBufferToBuffer(from, src.byteOffset, to, dst.byteOffset, bytes),
    );
  }

  /**
   * Copies `count` elements from `src` at element `srcOffset` into `dst` at element `dstOffset`
   * (4-byte elements, so every offset meets WebGPU's 4-byte copy alignment).
   */
  copyRange(src: TensorLike, srcOffset: number, dst: TensorLike, dstOffset: number, count: number): void {
    if (srcOffset + count > src.size || dstOffset + count > dst.size) {
      throw new Error(
        `copy of ${count} elements from [${src.shape}] at ${srcOffset} into [${dst.shape}] at ${dstOffset}`,
      );
    }
    if (count === 0) return;
    const [from, to] = [src.byteOffset + srcOffset * 4, dst.byteOffset + dstOffset * 4];
    const [srcBuffer, dstBuffer] = [src.buffer, dst.buffer];
    this.#transfer(
      `copy of ${count} values from [${src.shape}] into [${dst.shape}]`,
      (encoder) => encoder.copyBufferToBuffer(srcBuffer, from, dstBuffer, to, count * 4),
    );
  }

  /**
   * Writes the GPU's clock into `querySet[index]` between the work recorded so far and the work
   * recorded next (an empty compute pass carrying the timestamp), for benchmarks.
   */
  timestamp(querySet: GPUQuerySet, index: number): void {
    this.#endPass();
    this.encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: index } }).end();
  }

  /** Sets a tensor to zeros. */
  clear(t: TensorLike): void {
    const buffer = t.buffer;
    this.#transfer(
      `clear of [${t.shape}]`,
      (encoder) => encoder.clearBuffer(buffer, t.byteOffset, alignTo4(t.size * 4)),
    );
  }

  /** @internal */
  finish(): GPUCommandBuffer {
    this.#endPass();
    return this.encoder.finish();
  }

  /** @internal returns the uniform buffers once the step is submitted. */
  release(): void {
    for (const [schema, buffer] of this.#uniforms) this.gpu.releaseUniform(schema, buffer);
    this.#uniforms = [];
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = null;
  }
}

function alignTo4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}

/**
 * Splits `count` workgroups over x and y so neither exceeds the per-dimension limit.
 * Kernels recover the linear index as `wid.x + wid.y * nwg.x`.
 */
export function grid1d(count: number): [number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [count, 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(count / y), y];
}

/** Invocations per workgroup of the one-item-per-invocation kernels. */
export const ELEMENT_WORKGROUP = 256;

/**
 * The workgroup grid for `count` items at `perWorkgroup` items per workgroup, split over x and y
 * (see `grid1d`); kernels recover the linear workgroup index as `wid.x + wid.y * nwg.x`.
 */
export function elementGrid(count: number, perWorkgroup = ELEMENT_WORKGROUP): [number, number] {
  return grid1d(Math.ceil(count / perWorkgroup));
}

/**
 * Peak GPU bytes per image of the work `run` does on `batch` images: the high-water mark of live
 * tensor bytes (pool buckets, so what the device really holds) above what was live before it
 * (weights and other resident tensors), over the batch.
 *
 * @example
 * ```ts
 * const gpu = await Gpu.create();
 * const perImage = await peakBytesPerImage(gpu, 2, async () => {
 *   using x = gpu.tensor([2, 1000]);
 * });
 * console.log(perImage); // 4096 / 2: one 4000-byte tensor in a 4096-byte bucket
 * ```
 */
export async function peakBytesPerImage(gpu: Gpu, batch: number, run: () => Promise<void>): Promise<number> {
  const before = gpu.memory.liveBytes;
  gpu.resetPeak();
  await run();
  return (gpu.memory.peakLiveBytes - before) / batch;
}
