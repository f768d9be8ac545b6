/**
 * GPU tensors and the buffer pool they are drawn from.
 *
 * A tensor is a float32 (or u32) array in a storage buffer with a logical shape. Buffers are
 * pooled in power-of-two size buckets: the executor allocates and frees the same sizes every
 * batch, so after the first batch no buffer is created. Disposal returns the buffer to the pool;
 * `BufferPool.live` counts tensors not yet disposed, which is what the leak tests compare.
 */

const MIN_BUCKET_BYTES = 256;

export type DType = "f32" | "u32";

function bucketBytes(bytes: number): number {
  let size = MIN_BUCKET_BYTES;
  while (size < bytes) size *= 2;
  return size;
}

/** A pool of storage buffers, bucketed by size. */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #created = 0;
  #live = 0;
  #labels = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Tensors handed out and not yet released. */
  get live(): number {
    return this.#live;
  }

  /** GPU buffers this pool has created (live or free). */
  get created(): number {
    return this.#created;
  }

  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    const buffer = this.#free.get(size)?.pop() ?? this.#create(size);
    this.#live++;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const list = this.#free.get(buffer.size) ?? [];
    list.push(buffer);
    this.#free.set(buffer.size, list);
    this.#live--;
  }

  /** Destroys every free buffer (live ones stay with their tensors). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list) buffer.destroy();
      this.#created -= list.length;
    }
    this.#free.clear();
  }

  #create(size: number): GPUBuffer {
    this.#created++;
    return this.device.createBuffer({
      // WebGPU's messages name a buffer by its label: a unique one lets a GpuError name the binding.
      label: `pool buffer ${++this.#labels} (${size} bytes)`,
      size,
      // UNIFORM too: a GEMM may bind a slice of a pooled buffer as a uniform window (kernel.ts).
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A shaped array on the GPU. Dispose it (or `using` it) to return its buffer to the pool. */
export class Tensor implements Disposable {
  readonly size: number;
  #buffer: GPUBuffer | null;

  constructor(
    private readonly pool: BufferPool,
    readonly shape: readonly number[],
    readonly dtype: DType = "f32",
  ) {
    this.size = sizeOf(shape);
    this.#buffer = pool.acquire(Math.max(4, this.size * 4));
  }

  /** Bytes of data (the buffer may be larger: pool buckets round up). */
  get byteLength(): number {
    return Math.max(4, this.size * 4);
  }

  get buffer(): GPUBuffer {
    if (!this.#buffer) throw new Error(`tensor [${this.shape}] used after dispose`);
    return this.#buffer;
  }

  get disposed(): boolean {
    return this.#buffer === null;
  }

  /** A tensor sharing this one's buffer under another shape of the same size (no copy). */
  reshape(shape: readonly number[]): TensorView {
    if (sizeOf(shape) !== this.size) {
      throw new Error(`cannot reshape [${this.shape}] to [${shape}]: sizes differ`);
    }
    return new TensorView(this, shape);
  }

  dispose(): void {
    if (this.#buffer) this.pool.release(this.#buffer);
    this.#buffer = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Another shape over a tensor's buffer; owns nothing, so disposing it is a no-op. */
export class TensorView {
  readonly size: number;
  readonly dtype: DType;
  constructor(readonly base: Tensor, readonly shape: readonly number[]) {
    this.size = sizeOf(shape);
    this.dtype = base.dtype;
  }
  get buffer(): GPUBuffer {
    return this.base.buffer;
  }
  get byteLength(): number {
    return this.base.byteLength;
  }
}

/** Anything a kernel can bind as a storage array. */
export type TensorLike = Tensor | TensorView;

/** Throws an Error naming the kernel and tensor unless each tensor has the expected size or shape. */
export function checkSizes(kernel: string, tensors: Record<string, [TensorLike, number | readonly number[]]>): void {
  for (const [name, [tensor, expected]] of Object.entries(tensors)) {
    const size = typeof expected === "number" ? expected : sizeOf(expected);
    if (tensor.size !== size) {
      const wanted = typeof expected === "number" ? `${expected} values` : `shape [${expected}]`;
      throw new Error(`${kernel}: ${name} has shape [${tensor.shape}] but needs ${wanted}`);
    }
  }
}

/** Throws an Error naming the kernel and tensor unless the tensor holds u32 values (indices, labels). */
export function checkU32(kernel: string, name: string, tensor: TensorLike): void {
  if (tensor.dtype !== "u32") throw new Error(`${kernel}: ${name} must be a u32 tensor, got ${tensor.dtype}`);
}
