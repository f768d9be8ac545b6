/**
 * The elementwise group's kernels against float64 oracles (tests/elementwise_oracle.ts): every
 * unary function forward and backward, erf's accuracy over its range, and broadcasting binary
 * functions on random shapes and broadcast patterns with both operands' gradients; the oracles'
 * derivatives against central differences.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { binaryKernels, recordBinary, recordBinaryBackward } from "../kernels/elementwise_binary.ts";
import { recordUnary, recordUnaryBackward, UNARY_FUNCTIONS, unaryKernels } from "../kernels/elementwise_unary.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { BINARY_ORACLE, binaryOracle, erf64, UNARY_ORACLE } from "./elementwise_oracle.ts";
import { randomArray } from "./oracle.ts";

/** Asserts |got - want| <= tol * max(1, |want|) everywhere; returns the worst scaled error. */
function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    worst = Math.max(worst, err);
    assert.ok(err <= tol, `${what}: element ${i}: got ${got[i]}, want ${want[i]}`);
  }
  return worst;
}

/** Inputs inside each function's domain, away from kinks where a one-sided derivative is taken. */
function domain(fn: string, u: number): number {
  switch (fn) {
    case "log":
    case "sqrt":
    case "reciprocal":
      return 0.1 + 2 * (u + 1); // (0.1, 4.1)
    case "pow":
      return 0.05 + 1.5 * (u + 1);
    case "exp":
      return 4 * u;
    default:
      return 7 * u;
  }
}

const POW_EXPONENTS = [2, 3, 0.5, -1, 1.5, -2.5, 0];

Deno.test("erf64 matches published values and every oracle derivative matches central differences", () => {
  // Abramowitz & Stegun table 7.1 / mpmath values.
  const known: [number, number][] = [
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [
      2,
      0.9953222650189527,
    ],
    [3.5, 0.9999992569016276],
    [-1.5, -0.9661051464753108],
  ];
  for (const [x, v] of known) assert.ok(Math.abs(erf64(x) - v) < 1e-14, `erf(${x}) = ${erf64(x)}, want ${v}`);
  const c = { alpha: 0.3, beta: 0.45 };
  for (const [fn, { f, df }] of Object.entries(UNARY_ORACLE)) {
    for (const u of [-0.83, -0.31, 0.07, 0.52, 0.91]) {
      const x = domain(fn, u);
      const h = 1e-6;
      const numeric = (f(x + h, c) - f(x - h, c)) / (2 * h);
      assert.ok(Math.abs(numeric - df(x, c)) < 1e-5 * Math.max(1, Math.abs(numeric)), `${fn}'(${x})`);
    }
  }
  for (const [fn, op] of Object.entries(BINARY_ORACLE)) {
    for (const [a, b] of [[0.7, -1.3], [-2.1, 0.4], [1.9, 1.2]]) {
      const h = 1e-6;
      assert.ok(Math.abs((op.f(a + h, b) - op.f(a - h, b)) / (2 * h) - op.da(a, b)) < 1e-6, `d${fn}/da`);
      assert.ok(Math.abs((op.f(a, b + h) - op.f(a, b - h)) / (2 * h) - op.db(a, b)) < 1e-6, `d${fn}/db`);
    }
  }
});

Deno.test({
  name: "unary kernels: every function forward and backward matches the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await unaryKernels(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...UNARY_FUNCTIONS),
        fc.integer({ min: 1, max: 2000 }),
        fc.constantFrom(...POW_EXPONENTS),
        fc.integer(),
        async (fn, n, exponent, seed) => {
          const c = fn === "pow" ? { alpha: exponent, beta: 0 } : { alpha: 1 / 6, beta: 0.5 };
          const x = Float32Array.from(randomArray(n, seed), (u) => domain(fn, u));
          const dy = randomArray(n, seed + 1);
          using tx = gpu.tensor([n], x);
          using tdy = gpu.tensor([n], dy);
          using ty = gpu.tensor([n]);
          using tdx = gpu.tensor([n]);
          await gpu.run((s) => {
            recordUnary(s, kernels, { fn, x: tx, y: ty, ...c });
            recordUnaryBackward(s, kernels, { fn, x: tx, dy: tdy, dx: tdx, ...c });
          });
          const { f, df } = UNARY_ORACLE[fn];
          const what = `${fn}${fn === "pow" ? ` ^${exponent}` : ""} n=${n}`;
          assertNear(await gpu.read(ty), Array.from(x, (v) => f(v, c)), 1e-5, `${what} forward`);
          assertNear(await gpu.read(tdx), Array.from(x, (v, i) => dy[i] * df(v, c)), 2e-5, `${what} backward`);
        },
      ),
      { numRuns: 40 },
    );
  },
});

Deno.test({
  name:
    "unary kernels: erf and gelu stay within 3e-7 of float64 over [-8, 8], tanh within 2e-6 relative; pow of a negative base",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await unaryKernels(gpu);
    const n = 16001;
    const x = Float32Array.from({ length: n }, (_, i) => -8 + i / 1000);
    using tx = gpu.tensor([n], x);
    using erf = gpu.tensor([n]);
    using gelu = gpu.tensor([n]);
    using tanh = gpu.tensor([n]);
    await gpu.run((s) => {
      recordUnary(s, kernels, { fn: "erf", x: tx, y: erf });
      recordUnary(s, kernels, { fn: "gelu", x: tx, y: gelu });
      recordUnary(s, kernels, { fn: "tanh", x: tx, y: tanh });
    });
    const worst = (got: Float32Array, f: (v: number) => number) =>
      Math.max(...Array.from(got, (g, i) => Math.abs(g - f(x[i])) / Math.max(1, Math.abs(f(x[i])))));
    const erfError = worst(await gpu.read(erf), erf64);
    assert.ok(erfError <= 3e-7, `erf: worst error ${erfError}`);
    const geluError = worst(await gpu.read(gelu), (v) => UNARY_ORACLE.gelu.f(v, { alpha: 0, beta: 0 }));
    assert.ok(geluError <= 3e-7, `gelu: worst error ${geluError}`);
    // tanh relative to its value, 0 included: no cancellation near 0.
    const tanhRelative = Math.max(
      ...Array.from(
        await gpu.read(tanh),
        (g, i) => Math.abs(g - Math.tanh(x[i])) / Math.max(1e-30, Math.abs(Math.tanh(x[i]))),
      ),
    );
    assert.ok(tanhRelative <= 2e-6, `tanh: worst relative error ${tanhRelative}`);

    const base = [-2, -0.5, 3, -3];
    using tb = gpu.tensor([4], base);
    using cube = gpu.tensor([4]);
    using half = gpu.tensor([4]);
    await gpu.run((s) => {
      recordUnary(s, kernels, { fn: "pow", x: tb, y: cube, alpha: 3 });
      recordUnary(s, kernels, { fn: "pow", x: tb, y: half, alpha: 0.5 });
    });
    assertNear(await gpu.read(cube), [-8, -0.125, 27, -27], 1e-6, "x^3 of negative bases");
    const roots = await gpu.read(half);
    assert.ok(Number.isNaN(roots[0]) && Math.abs(roots[2] - Math.sqrt(3)) < 1e-6, `x^0.5: ${roots}`);
  },
});

/** An output shape (rank 1-5, dims 1-5) and two operand shapes that broadcast to it. */
const broadcastCase = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }).chain((out) => {
  const operand = fc.tuple(
    fc.integer({ min: 0, max: out.length }),
    fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  )
    .map(([drop, keep]) => out.slice(drop).map((d, k) => (keep[k] ? d : 1)));
  return fc.record({ out: fc.constant(out), a: operand, b: operand });
}).filter(({ out, a, b }) => {
  const rank = out.length;
  // Every output axis must be spanned by one operand for the output to be `out`.
  return out.every((d, k) => d === 1 || a[k - rank + a.length] === d || b[k - rank + b.length] === d);
});

const BINARY = ["add", "sub", "mul", "div", "max", "min"] as const;

Deno.test({
  name: "binary kernels: broadcast forward and both gradients (summed over broadcast axes) match the oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await binaryKernels(gpu);
    const cases = fc.sample(broadcastCase, { numRuns: 40, seed: 17 });
    // Long sums take the workgroup path: a squeeze-excitation scale and a per-channel constant. Then a
    // scalar (one merged axis) and five alternating axes (the general, unspecialised kernel).
    cases.push(
      { out: [2, 3, 7, 9], a: [2, 3, 7, 9], b: [2, 3, 1, 1] },
      { out: [3, 40, 6], a: [40, 1], b: [3, 40, 6] },
      { out: [5, 7], a: [5, 7], b: [1] },
      { out: [2, 3, 2, 3, 2], a: [2, 1, 2, 1, 2], b: [3, 1, 3, 2] },
    );
    for (const [q, { out, a, b }] of cases.entries()) {
      const fn = BINARY[q % BINARY.length];
      const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
      // Divisors kept away from 0; max/min ties appear through the rounded values.
      const values = (s: number[], seed: number, away: boolean) =>
        Float32Array.from(
          randomArray(size(s), seed),
          (u) => (away ? Math.sign(u || 1) * (0.5 + Math.abs(u)) : Math.round(4 * u) / 2),
        );
      const av = values(a, q * 3 + 1, false);
      const bv = values(b, q * 3 + 2, fn === "div");
      const dy = randomArray(size(out), q * 3 + 3);
      using ta = gpu.tensor(a, av);
      using tb = gpu.tensor(b, bv);
      using tdy = gpu.tensor(out, dy);
      using tout = gpu.tensor(out);
      using da = gpu.tensor(a);
      using db = gpu.tensor(b);
      await gpu.run((s) => {
        recordBinary(s, kernels, { fn, a: ta, b: tb, out: tout });
        recordBinaryBackward(s, kernels, { fn, side: "a", a: ta, b: tb, dy: tdy, grad: da });
        recordBinaryBackward(s, kernels, { fn, side: "b", a: ta, b: tb, dy: tdy, grad: db });
      });
      const want = binaryOracle(fn, { shape: a, data: av }, { shape: b, data: bv }, dy);
      const what = `${fn} [${a}] with [${b}] to [${out}]`;
      const terms = size(out) / Math.min(size(a), size(b));
      assertNear(await gpu.read(tout), want.out, 1e-6, `${what} forward`);
      assertNear(await gpu.read(da), want.da, 1e-5 * Math.sqrt(terms), `${what} d a`);
      assertNear(await gpu.read(db), want.db, 1e-5 * Math.sqrt(terms), `${what} d b`);
    }
  },
});
