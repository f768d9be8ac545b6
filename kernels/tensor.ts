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

/**
 * A pool of storage buffers, bucketed by size. It keeps the bytes of the buffers handed out and
 * their high-water mark (`liveBytes`, `peakLiveBytes`): recording frees a value at its last use and
 * a later allocation reuses its buffer within the same encoder, so the peak of live bytes while
 * recording is the GPU memory the work needs.
 */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #created = 0;
  #creations = 0;
  #live = 0;
  #liveBytes = 0;
  #peakLiveBytes = 0;
  #pooledBytes = 0;
  #labels = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Tensors handed out and not yet released. */
  get live(): number {
    return this.#live;
  }

  /** GPU buffers this pool holds (live or free). */
  get created(): number {
    return this.#created;
  }

  /** GPU buffers this pool has ever created (a trim does not lower it): the steady-state test counts these. */
  get creations(): number {
    return this.#creations;
  }

  /** Bytes of the buffers handed out and not yet released. */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** The most `liveBytes` has been since the pool was made or `resetPeak` was last called. */
  get peakLiveBytes(): number {
    return this.#peakLiveBytes;
  }

  /** Bytes of every buffer the pool holds, live or free. */
  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  /** Starts a new high-water mark from what is live now. */
  resetPeak(): void {
    this.#peakLiveBytes = this.#liveBytes;
  }

  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    const buffer = this.#free.get(size)?.pop() ?? this.#create(size);
    this.#live++;
    this.#liveBytes += size;
    this.#peakLiveBytes = Math.max(this.#peakLiveBytes, this.#liveBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const list = this.#free.get(buffer.size) ?? [];
    list.push(buffer);
    this.#free.set(buffer.size, list);
    this.#live--;
    this.#liveBytes -= buffer.size;
  }

  /** Destroys every free buffer (live ones stay with their tensors). */
  trim(): void {
    for (const [size, list] of this.#free) {
      for (const buffer of list) buffer.destroy();
      this.#created -= list.length;
      this.#pooledBytes -= size * list.length;
    }
    this.#free.clear();
  }

  #create(size: number): GPUBuffer {
    this.#created++;
    this.#creations++;
    this.#pooledBytes += size;
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

  /** Where the tensor starts in its buffer: always 0 (see TensorRows). */
  readonly byteOffset = 0;

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
  readonly byteOffset = 0;
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

/**
 * WebGPU's guaranteed storage-binding offset alignment (`minStorageBufferOffsetAlignment` is at
 * most this on every adapter): a window of a buffer must start at a multiple of it.
 */
export const BINDING_OFFSET_ALIGNMENT = 256;

/**
 * Rows [first, first + count) along the first axis of a tensor, bound as a window of its buffer:
 * how a tensor larger than one storage binding may be bound (see `rowBlocks`). Owns nothing.
 */
export class TensorRows {
  readonly size: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteOffset: number;

  constructor(readonly base: Tensor, readonly first: number, readonly count: number) {
    const rowSize = sizeOf(base.shape.slice(1));
    if (
      !Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > base.shape[0]
    ) {
      throw new Error(`rows [${first}, ${first + count}) are not inside tensor [${base.shape}]`);
    }
    this.byteOffset = first * rowSize * 4;
    if (this.byteOffset % BINDING_OFFSET_ALIGNMENT !== 0) {
      throw new Error(
        `rows from ${first} of tensor [${base.shape}] start at byte ${this.byteOffset}, not a multiple of 256`,
      );
    }
    this.shape = [count, ...base.shape.slice(1)];
    this.size = count * rowSize;
    this.dtype = base.dtype;
  }
  get buffer(): GPUBuffer {
    return this.base.buffer;
  }
  get byteLength(): number {
    return this.size * 4;
  }
}

/**
 * Splits `rows` rows of `rowSize` values into blocks of whole rows each at most `limitBytes` of
 * float32, every block starting at a 256-byte boundary and at a multiple of `rowMultiple` rows
 * (so that a per-row vector, such as a bias, can be bound in the same blocks): [first, count].
 *
 * @example
 * ```ts
 * // 100 rows of 4000 bytes fit, but a block must start at a multiple of 256 bytes: 8 rows do.
 * rowBlocks(200, 1000, 400_000); // [[0, 96], [96, 96], [192, 8]]
 * ```
 */
export function rowBlocks(rows: number, rowSize: number, limitBytes: number, rowMultiple = 1): [number, number][] {
  const rowBytes = rowSize * 4;
  if (rows * rowBytes <= limitBytes) return [[0, rows]];
  const aligned = BINDING_OFFSET_ALIGNMENT / gcd(rowBytes, BINDING_OFFSET_ALIGNMENT);
  const step = (aligned * rowMultiple) / gcd(aligned, rowMultiple);
  const perBlock = Math.floor(limitBytes / rowBytes / step) * step;
  if (perBlock < 1) throw new Error(`${step} rows of ${rowBytes} bytes exceed the ${limitBytes}-byte binding limit`);
  const blocks: [number, number][] = [];
  for (let first = 0; first < rows; first += perBlock) blocks.push([first, Math.min(perBlock, rows - first)]);
  return blocks;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Anything a kernel can bind as a storage array. */
export type TensorLike = Tensor | TensorView | TensorRows;

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
