/**
 * RBF Gram computations over a set of feature rows kept on the GPU, in row blocks sized by a
 * memory budget: an n x n Gram never exists whole, so n can exceed what fits in GPU memory.
 * Each block is one command encoder; what comes back per block is small (row sums, a few
 * quadratic forms) except where a caller asks for the block itself.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * declare const features: Float32Array; // rows of 128 values
 * using engine = await GramEngine.create(await Gpu.create(), features, 128);
 * const sums = await engine.rowSums(0.5); // sum_j exp(-0.5 |x_i - x_j|^2) for every i
 * ```
 */
import { type ChannelSumKernel, channelSumKernel, recordChannelSum } from "../../kernels/channel_sum.ts";
import type { Gpu, Step } from "../../kernels/gpu.ts";
import { type MatmulKernel, matmulKernel, recordMatmul } from "../../kernels/matmul.ts";
import { type RbfGramKernels, rbfGramKernels, recordGram, recordRowNorms } from "../../kernels/rbf_gram.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";

/** Default bytes of GPU memory for one block's temporaries: 64 MiB. */
export const DEFAULT_GRAM_BUDGET = 64 * 2 ** 20;

interface GramKernels {
  gram: RbfGramKernels;
  matmul: MatmulKernel;
  channelSum: ChannelSumKernel;
}

/** Feature rows [n, width] on the GPU with their squared norms, and the blocked Gram operations over them. */
export class GramEngine implements Disposable {
  private constructor(
    readonly gpu: Gpu,
    private readonly kernels: GramKernels,
    private readonly host: Float32Array,
    private readonly x: Tensor,
    private readonly xT: Tensor,
    private readonly norms: Tensor,
    readonly n: number,
    readonly width: number,
    readonly budget: number,
  ) {}

  /** Uploads `features` (n rows of `width`) and computes their norms. */
  static async create(
    gpu: Gpu,
    features: Float32Array,
    width: number,
    options: { memoryBudget?: number } = {},
  ): Promise<GramEngine> {
    const n = features.length / width;
    if (!Number.isInteger(n) || n < 1) throw new Error(`gram: ${features.length} values are not rows of ${width}`);
    const [gram, matmul, channelSum] = await Promise.all([
      rbfGramKernels(gpu),
      matmulKernel(gpu),
      channelSumKernel(gpu),
    ]);
    const x = gpu.tensor([n, width], features);
    const xT = gpu.tensor([width, n], transpose(features, n, width));
    const norms = gpu.tensor([n]);
    await gpu.run((step) => recordRowNorms(step, gram, { x, out: norms }));
    const budget = options.memoryBudget ?? DEFAULT_GRAM_BUDGET;
    return new GramEngine(gpu, { gram, matmul, channelSum }, features, x, xT, norms, n, width, budget);
  }

  /** Rows per block when each block row holds `floatsPerRow` floats of temporaries (at least 1). */
  blockRows(floatsPerRow = this.n): number {
    return Math.max(1, Math.min(this.n, Math.floor(this.budget / (4 * floatsPerRow))));
  }

  /** Calls `visit` with each row block of the Gram (exp(-gamma d^2), or d^2 without gamma), read back. */
  async forEachBlock(
    gamma: number | undefined,
    visit: (block: Float32Array, rowOffset: number, rows: number) => void,
  ): Promise<void> {
    const R = this.blockRows();
    for (let rowOffset = 0; rowOffset < this.n; rowOffset += R) {
      const rows = Math.min(R, this.n - rowOffset);
      using block = this.gpu.tensor([rows, this.n]);
      await this.gpu.run((step) => this.#recordBlock(step, block, rowOffset, rows, gamma, 0, this.n));
      visit(await this.gpu.read(block), rowOffset, rows);
    }
  }

  /**
   * sum_j k(x_i, x_j) for every row i, reduced on the GPU block by block. K is symmetric, so only
   * its upper triangle is computed: row block I's diagonal block gives row sums for I, and the
   * block right of it (columns after I) gives row sums for I and column sums for those columns.
   */
  async rowSums(gamma: number): Promise<Float64Array> {
    const out = new Float64Array(this.n);
    const R = this.blockRows();
    for (let start = 0; start < this.n; start += R) {
      const rows = Math.min(R, this.n - start), right = this.n - start - rows;
      using diagonal = this.gpu.tensor([rows, rows]);
      using rect = this.gpu.tensor([rows, Math.max(right, 1)]);
      using diagonalSums = this.gpu.tensor([rows]);
      using rectRowSums = this.gpu.tensor([rows]);
      using rectColumnSums = this.gpu.tensor([1, Math.max(right, 1)]);
      using ones = this.gpu.tensor([1, rows], new Float32Array(rows).fill(1));
      const sum = this.kernels.channelSum;
      await this.gpu.run((step) => {
        this.#recordBlock(step, diagonal, start, rows, gamma, start, rows);
        // Row sums: a [1, rows, cols] view makes each row a "channel" whose values channel_sum adds
        // up. Column sums: ones [1, rows] x block on the GEMM core, whose invocations own
        // neighbouring columns (a strided channel_sum over columns is 10x slower on llvmpipe).
        recordChannelSum(step, sum, { a: diagonal.reshape([1, rows, rows]), out: diagonalSums });
        if (right === 0) return;
        this.#recordBlock(step, rect, start, rows, gamma, start + rows, right);
        recordChannelSum(step, sum, { a: rect.reshape([1, rows, right]), out: rectRowSums });
        recordMatmul(step, this.kernels.matmul, { a: ones, b: rect, c: rectColumnSums, M: 1, N: right, K: rows });
      });
      const sums = right > 0 ? [diagonalSums, rectRowSums, rectColumnSums] : [diagonalSums];
      const [d, r, c] = (await this.gpu.readMany(sums)).map((bytes) => new Float32Array(bytes));
      for (let i = 0; i < rows; i++) out[start + i] += d[i] + (r ? r[i] : 0);
      c?.forEach((v, j) => (out[start + rows + j] += v));
    }
    return out;
  }

  /** The Gram rows k(x_r, x_j) of the given rows r, [indices.length, n]. */
  async rows(indices: ArrayLike<number>, gamma: number): Promise<Float32Array> {
    const r = indices.length;
    const gathered = new Float32Array(r * this.width);
    for (let i = 0; i < r; i++) {
      gathered.set(this.host.subarray(indices[i] * this.width, (indices[i] + 1) * this.width), i * this.width);
    }
    using q = this.gpu.tensor([r, this.width], gathered);
    using qNorms = this.gpu.tensor([r]);
    using out = this.gpu.tensor([r, this.n]);
    await this.gpu.run((step) => {
      recordRowNorms(step, this.kernels.gram, { x: q, out: qNorms });
      const args = { x: q, yT: this.xT, xNorm: qNorms, yNorm: this.norms, out, rowOffset: 0, rows: r, gamma };
      recordGram(step, this.kernels.gram, args);
    });
    return await this.gpu.read(out);
  }

  /**
   * Quadratic forms w_p^T K w_p for the columns w_p of `weights` ([n, columns], row-major): per
   * row block, (K_block W) on the GEMM core, then sum_r W[r, p] (K_block W)[r, p] by channel_sum;
   * block results are added in float64.
   */
  async quadraticForms(weights: Float32Array, columns: number, gamma: number): Promise<Float64Array> {
    if (weights.length !== this.n * columns) throw new Error(`gram: weights must be [${this.n}, ${columns}]`);
    const out = new Float64Array(columns);
    using w = this.gpu.tensor([this.n, columns], weights);
    const R = this.blockRows(this.n + 2 * columns);
    for (let rowOffset = 0; rowOffset < this.n; rowOffset += R) {
      const rows = Math.min(R, this.n - rowOffset);
      using block = this.gpu.tensor([rows, this.n]);
      using product = this.gpu.tensor([rows, columns]);
      using wRows = this.gpu.tensor(
        [rows, columns],
        weights.subarray(rowOffset * columns, (rowOffset + rows) * columns),
      );
      using forms = this.gpu.tensor([columns]);
      await this.gpu.run((step) => {
        this.#recordBlock(step, block, rowOffset, rows, gamma, 0, this.n);
        recordMatmul(step, this.kernels.matmul, { a: block, b: w, c: product, M: rows, N: columns, K: this.n });
        recordChannelSum(step, this.kernels.channelSum, { a: product, b: wRows, out: forms });
      });
      (await this.gpu.read(forms)).forEach((v, p) => (out[p] += v));
    }
    return out;
  }

  /** Records the Gram block of rows rowOffset.. against columns colOffset.. (both of this set) into `out`. */
  #recordBlock(
    step: Step,
    out: TensorLike,
    rowOffset: number,
    rows: number,
    gamma: number | undefined,
    colOffset: number,
    cols: number,
  ): void {
    const args = { x: this.x, yT: this.xT, xNorm: this.norms, yNorm: this.norms, out, rowOffset, rows, gamma };
    recordGram(step, this.kernels.gram, { ...args, colOffset, cols, symmetric: true });
  }

  dispose(): void {
    this.x.dispose();
    this.xT.dispose();
    this.norms.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** [n, width] row-major -> [width, n] (the GEMM's B operand reads neighbouring columns together). */
function transpose(rows: Float32Array, n: number, width: number): Float32Array {
  const out = new Float32Array(n * width);
  for (let i = 0; i < n; i++) for (let k = 0; k < width; k++) out[k * n + i] = rows[i * width + k];
  return out;
}
