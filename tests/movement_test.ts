/**
 * The movement layers (permute, slice, pad, expand, constant, concat on any axis, view) forward and
 * backward on the GPU against the float64 coordinate oracle, on random shapes of rank 1 to 6.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { movementKernel } from "../kernels/movement.ts";
import type { EngineKernels } from "../kernels/mod.ts";
import type { Tensor } from "../kernels/tensor.ts";
import type { GraphNode } from "../pipeline/model/graph.ts";
import { type Layer, type LayerContext, LAYERS } from "../pipeline/model/layers.ts";
import { outputShape } from "../pipeline/model/shapes.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { movementBackwardOracle, movementOracle } from "./movement_oracle.ts";
import { maxAbsDiff, randomArray } from "./oracle.ts";

interface Case {
  node: GraphNode;
  inputShapes: number[][];
  /** The constant node's parameter shape. */
  paramShape?: number[];
}

const dimsArb = (min: number, max: number) =>
  fc.array(fc.integer({ min: 1, max: 4 }), { minLength: min, maxLength: max });

const permuteArb: fc.Arbitrary<Case> = dimsArb(1, 6).chain((shape) =>
  fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }).map((perm) => ({
    node: { name: "n", op: "permute", inputs: ["x"], perm },
    inputShapes: [shape],
  }))
);

const sliceArb: fc.Arbitrary<Case> = dimsArb(1, 5).chain((shape) =>
  fc.tuple(
    fc.shuffledSubarray(shape.map((_, i) => i), { minLength: 1 }),
    fc.array(
      fc.tuple(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom(-3, -2, -1, 1, 2),
      ),
      { minLength: 6, maxLength: 6 },
    ),
  ).map(([axes, picks]) => {
    const starts: number[] = [], counts: number[] = [], steps: number[] = [];
    axes.forEach((a, i) => {
      const [u, v, step] = picks[i];
      const start = Math.min(shape[a] - 1, Math.floor(u * shape[a]));
      const room = step > 0 ? Math.floor((shape[a] - 1 - start) / step) + 1 : Math.floor(start / -step) + 1;
      starts.push(start);
      steps.push(step);
      counts.push(1 + Math.min(room - 1, Math.floor(v * room)));
    });
    return { node: { name: "n", op: "slice", inputs: ["x"], axes, starts, counts, steps }, inputShapes: [shape] };
  })
);

const padArb: fc.Arbitrary<Case> = dimsArb(1, 5).chain((shape) =>
  fc.tuple(
    fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 2 * shape.length, maxLength: 2 * shape.length }),
    fc.double({ min: -2, max: 2, noNaN: true }),
  )
    .map(([raw, value]) => {
      const pads = [...raw];
      shape.forEach((d, a) => {
        if (d + pads[a] + pads[a + shape.length] < 1) pads[a] = pads[a + shape.length] = 0;
      });
      return { node: { name: "n", op: "pad", inputs: ["x"], pads, value }, inputShapes: [shape] };
    })
);

const expandArb: fc.Arbitrary<Case> = fc.tuple(
  dimsArb(1, 5),
  fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  fc.integer({ min: 0, max: 2 }),
).map(([target, ones, keep, dropped]) => {
  // The input: the target's trailing axes, some of them 1 (broadcast); the node's shape says 1
  // where the input already has the target's extent (ONNX keeps the input's extent there).
  const input = target.slice(Math.min(dropped, target.length - 1)).map((d, i) => (ones[i] ? 1 : d));
  const lead = target.length - input.length;
  const shape = target.map((d, j) => (j >= lead && input[j - lead] === d && keep[j] ? 1 : d));
  return { node: { name: "n", op: "expand", inputs: ["x"], shape }, inputShapes: [input] };
});

const concatArb: fc.Arbitrary<Case> = dimsArb(1, 5).chain((shape) =>
  fc.tuple(
    fc.integer({ min: 0, max: shape.length - 1 }),
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
  )
    .map(([axis, extents]) => ({
      node: { name: "n", op: "concat", inputs: extents.map((_, i) => `x${i}`), axis },
      inputShapes: extents.map((e) => shape.map((d, a) => (a === axis ? e : d))),
    }))
);

const constantArb: fc.Arbitrary<Case> = fc.tuple(
  dimsArb(1, 4),
  fc.integer({ min: 1, max: 3 }),
  fc.integer({ min: 1, max: 3 }),
)
  .map(([rest, k, batch]) => ({
    node: { name: "n", op: "constant", inputs: ["image"], tensor: "token", shape: [-k, ...rest] },
    inputShapes: [[batch, 1, 1, 1]],
    paramShape: [1, ...rest.map((d, i) => (i % 2 === 0 ? 1 : d))],
  }));

const viewArb: fc.Arbitrary<Case> = fc.tuple(
  dimsArb(1, 5),
  fc.integer({ min: 1, max: 3 }),
  fc.shuffledSubarray([0, 1, 2, 3, 4]),
)
  .map(([shape, batch, order]) => {
    const target = order.filter((i) => i < shape.length).map((i) => shape[i]);
    return {
      node: { name: "n", op: "view", inputs: ["x"], shape: [-1, ...target] },
      inputShapes: [[batch, ...shape]],
    };
  });

const gpuPromise = testGpu();

/** Runs a case's forward and backward on the GPU and checks both against the oracle. */
async function check(c: Case, seed: number): Promise<void> {
  const gpu = await gpuPromise;
  const kernels = { movement: await movementKernel(gpu) } as EngineKernels;
  const param = c.paramShape ? gpu.tensor(c.paramShape, randomArray(sizeOf(c.paramShape), seed + 7)) : null;
  const outShape = outputShape(c.node, c.inputShapes, () => c.paramShape!);
  const xs = c.inputShapes.map((s, i) => randomArray(sizeOf(s), seed + i));
  const dyData = randomArray(sizeOf(outShape), seed + 99);
  const tensors: Tensor[] = [];
  const track = (t: Tensor | null) => (t && tensors.push(t), t);
  const inputs = c.inputShapes.map((s, i) => track(gpu.tensor(s, xs[i]))!);
  const dy = track(gpu.tensor(outShape, dyData))!;
  let y: Tensor | null = null;
  let grads: (Tensor | null)[] = [];
  let paramGrad: Tensor | undefined;
  await gpu.run((step) => {
    const ctx: LayerContext = {
      step,
      kernels,
      training: false,
      alloc: (s) => track(gpu.tensor(s))!,
      param: () => param!,
    };
    const layer = LAYERS[c.node.op] as Layer;
    y = layer.forward(ctx, c.node, inputs, c.inputShapes, outShape).output;
    const back = layer.backward(ctx, c.node, {
      inputs,
      inputShapes: c.inputShapes,
      output: y,
      saved: [],
      dy,
      wantInput: inputs.map(() => true),
      wantParams: true,
    });
    grads = back.inputs;
    paramGrad = back.params.get("token");
    track(paramGrad ?? null);
  });
  const values = c.inputShapes.map((shape, i) => ({ shape, data: Float64Array.from(xs[i]) }));
  const p = c.paramShape && param ? { shape: c.paramShape, data: Float64Array.from(await gpu.read(param)) } : undefined;
  const expected = movementOracle(c.node, values, p);
  const what = `${JSON.stringify(c.node)} on ${JSON.stringify(c.inputShapes)}`;
  assert.deepEqual(outShape, expected.shape, `${what}: shape`);
  assert.ok(maxAbsDiff(await gpu.read(y!), expected.data) <= 1e-6, `${what}: forward`);
  const expectedGrads = movementBackwardOracle(c.node, values, Float64Array.from(dyData), p);
  if (c.node.op === "constant") {
    assert.ok(maxAbsDiff(await gpu.read(paramGrad!), expectedGrads[0]) <= 1e-5, `${what}: parameter gradient`);
  } else {
    for (const [i, g] of grads.entries()) {
      assert.ok(maxAbsDiff(await gpu.read(g!), expectedGrads[i]) <= 1e-5, `${what}: gradient of input ${i}`);
    }
  }
  for (const t of tensors) t.dispose();
  param?.dispose();
}

const cases: [string, fc.Arbitrary<Case>][] = [
  ["permute", permuteArb],
  ["slice (any step, negative too)", sliceArb],
  ["pad (growing and cropping)", padArb],
  ["expand", expandArb],
  ["concat on any axis", concatArb],
  ["constant broadcast along the batch", constantArb],
  ["view with a batch-dependent entry", viewArb],
];

for (const [name, arb] of cases) {
  Deno.test({
    name: `movement: ${name} forward and backward match the float64 oracle`,
    ...gpuTest,
    async fn() {
      await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 1, max: 1 << 20 }), check), { numRuns: 12 });
    },
  });
}

Deno.test({
  name:
    "movement: concat of many blocks (the last axis of a 5-D batch) takes the strided kernel and matches the oracle",
  ...gpuTest,
  async fn() {
    // 4 * 4 * 4 * 4 leading indices times 2 inputs is over the 256 buffer copies the layer makes at most.
    const node: GraphNode = { name: "n", op: "concat", inputs: ["a", "b"], axis: 4 };
    await check({ node, inputShapes: [[4, 4, 4, 4, 2], [4, 4, 4, 4, 3]] }, 5);
  },
});
