/**
 * Grad-CAM, Grad-CAM++ and occlusion: a property (a model whose last spatial layer has one live
 * cell lights that cell), and the three against float64 references on a small ConvNet: the
 * layer's activations from the graph oracle, its gradient by central finite differences of the
 * oracle over the graph's tail, and the weighting, ReLU, bilinear resize and occlusion drops
 * written out here.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { lastSpatialLayer } from "../pipeline/explain/cam.ts";
import { occlusionGeometry } from "../pipeline/explain/occlusion.ts";
import { computeSaliency } from "../pipeline/explain/saliency.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { bytesPerImage, type ExecutableModel, Executor } from "../pipeline/model/executor.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import type { HostTensor } from "../pipeline/model/model_files.ts";
import { type Chw, randomImages } from "./explain_fixture.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle, type OracleModel } from "./graph_oracle.ts";
import { maxAbsDiff, randomArray } from "./oracle.ts";

const tensor = (shape: number[], data: ArrayLike<number>): HostTensor => ({ shape, data: Float32Array.from(data) });

/**
 * [1, 8, 8] -> dense -> reshape [2, 4, 4] -> relu -> dense: the lift's bias is -100 on every cell
 * but (row, column), whose weights are positive, so on images in [0, 1) only that cell is live;
 * class 0's head weights are positive.
 */
function oneCellModel(row: number, column: number, seed: number): ExecutableModel {
  const cells = 2 * 16, pixels = 64, classes = 3;
  const lift = randomArray(cells * pixels, seed);
  const bias = new Float32Array(cells).fill(-100);
  for (let k = 0; k < 2; k++) {
    const cell = k * 16 + row * 4 + column;
    bias[cell] = 0;
    for (let p = 0; p < pixels; p++) lift[cell * pixels + p] = Math.abs(lift[cell * pixels + p]) + 0.01;
  }
  const head = randomArray(classes * cells, seed + 1);
  for (let q = 0; q < cells; q++) head[q] = Math.abs(head[q]) + 0.01;
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [1, 8, 8] },
    nodes: [
      { name: "flat", op: "flatten", inputs: ["image"] },
      { name: "lift", op: "dense", inputs: ["flat"], weight: "lift.w", bias: "lift.b" },
      { name: "cells", op: "reshape", inputs: ["lift"], shape: [2, 4, 4] },
      { name: "features", op: "relu", inputs: ["cells"] },
      { name: "flat2", op: "flatten", inputs: ["features"] },
      { name: "out", op: "dense", inputs: ["flat2"], weight: "head.w" },
    ],
    output: "out",
  };
  return {
    graph,
    weights: new Map([
      ["lift.w", tensor([cells, pixels], lift)],
      ["lift.b", tensor([cells], bias)],
      ["head.w", tensor([classes, cells], head)],
    ]),
    manifest: { normalization: { mean: [0], std: [1] } },
  };
}

Deno.test({
  name: "cam: Grad-CAM and Grad-CAM++ of a model whose last spatial layer has one live cell light that cell only",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        async (row, column, seed) => {
          using exec = await Executor.create(gpu, oneCellModel(row, column, seed));
          assert.equal(lastSpatialLayer(exec), "features");
          const images = randomImages(2, [1, 8, 8], seed + 2).map((v) => (v + 1) / 2);
          for (const method of ["gradcam", "gradcam++"] as const) {
            const { maps } = await computeSaliency(exec, images, 2, { method, targets: [0, 0] });
            for (let b = 0; b < 2; b++) {
              let inside = Infinity, outside = 0;
              for (let y = 0; y < 8; y++) {
                for (let x = 0; x < 8; x++) {
                  const v = maps[(b * 8 + y) * 8 + x];
                  // The cell covers input pixels 2row..2row+1; bilinear resizing spreads it one pixel further.
                  const dy = Math.max(2 * row - y, y - 2 * row - 1, 0),
                    dx = Math.max(2 * column - x, x - 2 * column - 1, 0);
                  if (dy === 0 && dx === 0) inside = Math.min(inside, v);
                  else outside = Math.max(outside, v);
                  if (dy > 1 || dx > 1) {
                    assert.equal(v, 0, `${method}: pixel (${y}, ${x}) away from cell (${row}, ${column})`);
                  }
                }
              }
              assert.ok(inside > outside, `${method}: cell (${row}, ${column}) min ${inside} <= ${outside} outside`);
              assert.equal(Math.max(...maps.subarray(b * 64, (b + 1) * 64)), 1, `${method}: normalised to 1`);
            }
          }
        },
      ),
      { numRuns: 6 },
    );
  },
});

/** A small ConvNet on [3, 10, 10]: conv-bn-relu, max pool, conv-relu, dense; seeded weights. */
function smallConvnet(seed: number): ExecutableModel {
  const w = (name: string, shape: number[], scale: number, offset = 0) =>
    [
      name,
      tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed++).map((v) => offset + scale * v)),
    ] as const;
  const conv = (name: string, input: string, weight: string): Graph["nodes"][number] => ({
    name,
    op: "conv2d",
    inputs: [input],
    stride: [1, 1],
    padding: [1, 1],
    dilation: [1, 1],
    groups: 1,
    weight,
    bias: `${weight}.b`,
  });
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [3, 10, 10] },
    nodes: [
      conv("conv1", "image", "c1"),
      {
        name: "bn1",
        op: "batch_norm",
        inputs: ["conv1"],
        scale: "bn.g",
        shift: "bn.b",
        mean: "bn.m",
        variance: "bn.v",
        epsilon: 1e-5,
      },
      { name: "relu1", op: "relu", inputs: ["bn1"] },
      { name: "pool1", op: "max_pool", inputs: ["relu1"], kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      conv("conv2", "pool1", "c2"),
      { name: "relu2", op: "relu", inputs: ["conv2"] },
      { name: "flat", op: "flatten", inputs: ["relu2"] },
      { name: "out", op: "dense", inputs: ["flat"], weight: "d", bias: "d.b" },
    ],
    output: "out",
  };
  return {
    graph,
    weights: new Map([
      w("c1", [4, 3, 3, 3], 0.6),
      w("c1.b", [4], 0.1),
      w("bn.g", [4], 0.2, 1),
      w("bn.b", [4], 0.2),
      w("bn.m", [4], 0.1),
      w("bn.v", [4], 0.3, 1),
      w("c2", [6, 4, 3, 3], 0.5),
      w("c2.b", [6], 0.1),
      w("d", [5, 6 * 25], 0.3),
      w("d.b", [5], 0.1),
    ]),
    manifest: { normalization: { mean: [0.5, 0.4, 0.3], std: [0.5, 0.6, 0.7] } },
  };
}

function oracleOf(model: ExecutableModel, graph = model.graph): OracleModel {
  return { graph, weights: model.weights, normalization: model.manifest.normalization };
}

/** The layer's float64 activations, and d logit[target] / d activation by central differences over the tail. */
function layerReference(model: ExecutableModel, images: Float32Array, count: number, layer: string, targets: number[]) {
  const { graph } = model;
  const at = graph.nodes.findIndex((n) => n.name === layer);
  const activations = graphForwardOracle(
    oracleOf(model, { ...graph, nodes: graph.nodes.slice(0, at + 1), output: layer }),
    images,
    count,
  );
  const [, channels, h, w] = activations.shape;
  const tail: Graph = { ...graph, input: { name: layer, shape: [channels, h, w] }, nodes: graph.nodes.slice(at + 1) };
  const identity = { mean: new Array(channels).fill(0), std: new Array(channels).fill(1) };
  const score = (a: Float64Array, b: number) => {
    const logits = graphForwardOracle({ ...oracleOf(model, tail), normalization: identity }, a, 1).data;
    return logits[targets[b]];
  };
  const per = channels * h * w, step = 1e-6;
  const gradients = new Float64Array(count * per);
  for (let b = 0; b < count; b++) {
    const a = activations.data.slice(b * per, (b + 1) * per);
    for (let i = 0; i < per; i++) {
      const v = a[i];
      a[i] = v + step;
      const up = score(a, b);
      a[i] = v - step;
      const down = score(a, b);
      a[i] = v;
      gradients[b * per + i] = (up - down) / (2 * step);
    }
  }
  return { activations: activations.data, gradients, shape: activations.shape };
}

/** relu(sum_k w_k A_k) resized by half-pixel bilinear interpolation and divided by its maximum. */
function camReference(
  ref: ReturnType<typeof layerReference>,
  method: "gradcam" | "gradcam++",
  [height, width]: [number, number],
): Float64Array {
  const [count, channels, h, w] = ref.shape;
  const out = new Float64Array(count * height * width);
  const source = (i: number, size: number, outSize: number) => Math.max(0, ((i + 0.5) * size) / outSize - 0.5);
  for (let b = 0; b < count; b++) {
    const cam = new Float64Array(h * w);
    for (let k = 0; k < channels; k++) {
      const base = (b * channels + k) * h * w;
      const g = ref.gradients.subarray(base, base + h * w), a = ref.activations.subarray(base, base + h * w);
      const total = a.reduce((s, v) => s + v, 0);
      const weight = method === "gradcam" ? g.reduce((s, v) => s + v, 0) / (h * w) : g.reduce(
        (s, v) => s + (v > 0 && 2 * v * v + total * v ** 3 !== 0 ? (v * v * v) / (2 * v * v + total * v ** 3) : 0),
        0,
      );
      for (let q = 0; q < h * w; q++) cam[q] += weight * a[q];
    }
    const at = (y: number, x: number) => Math.max(0, cam[Math.min(h - 1, y) * w + Math.min(w - 1, x)]);
    const map = out.subarray(b * height * width, (b + 1) * height * width);
    for (let y = 0; y < height; y++) {
      const sy = source(y, h, height), y0 = Math.floor(sy), ty = sy - y0;
      for (let x = 0; x < width; x++) {
        const sx = source(x, w, width), x0 = Math.floor(sx), tx = sx - x0;
        map[y * width + x] = (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x0 + 1)) +
          ty * ((1 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1));
      }
    }
    const top = Math.max(...map);
    if (top > 0) map.forEach((v, q) => (map[q] = v / top));
  }
  return out;
}

Deno.test({
  name:
    "cam: Grad-CAM and Grad-CAM++ of a small ConvNet match float64 activations, finite-difference gradients and resizing",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const model = smallConvnet(11);
    using exec = await Executor.create(gpu, model);
    const count = 3, input: Chw = [3, 10, 10];
    const images = randomImages(count, input, 5).map((v) => (v + 1) / 2);
    const logits = graphForwardOracle(oracleOf(model), images, count).data;
    const argmax = [0, 1, 2].map((b) => {
      const row = Array.from(logits.subarray(b * 5, b * 5 + 5));
      return row.indexOf(Math.max(...row));
    });
    assert.equal(lastSpatialLayer(exec), "relu2");
    // relu2: the default, a linear tail; pool1: the tail runs through a conv and a ReLU.
    for (const layer of ["relu2", "pool1"]) {
      for (const targets of [argmax, [4, 0, 3]]) {
        const ref = layerReference(model, images, count, layer, targets);
        for (const method of ["gradcam", "gradcam++"] as const) {
          const result = await computeSaliency(exec, images, count, {
            method,
            camLayer: layer === "relu2" ? undefined : layer,
            targets: targets === argmax ? undefined : targets,
            // One image per pass: the groups are stitched together.
            memoryBudget: bytesPerImage(exec),
          });
          assert.deepEqual([...result.targets], targets);
          const err = maxAbsDiff(result.maps, camReference(ref, method, [10, 10]));
          assert.ok(
            err <= (method === "gradcam" ? 1e-4 : 1e-3),
            `${method} at ${layer}, targets ${targets}: error ${err}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "occlusion: a small ConvNet's maps match float64 logit drops averaged over overlapping patches",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const model = smallConvnet(23);
    using exec = await Executor.create(gpu, model);
    const count = 2, [c, h, w] = [3, 10, 10], per = c * h * w;
    const images = randomImages(count, [c, h, w], 9).map((v) => (v + 1) / 2);
    const patch = 3, stride = 2, fill = 0.2, targets = [1, 3];
    // Starts every 2 pixels, and one flush with the far edge: 0, 2, 4, 6, 7.
    const starts = [0, 2, 4, 6, 7];
    assert.deepEqual(occlusionGeometry(h, w, patch, stride).rows, starts);
    const oracle = oracleOf(model);
    const expected = new Float64Array(count * h * w);
    for (let b = 0; b < count; b++) {
      const image = images.slice(b * per, (b + 1) * per);
      const clean = graphForwardOracle(oracle, image, 1).data[targets[b]];
      const sum = new Float64Array(h * w), covered = new Float64Array(h * w);
      for (const top of starts) {
        for (const left of starts) {
          const patched = image.slice();
          for (let ch = 0; ch < c; ch++) {
            for (let y = top; y < top + patch; y++) {
              for (let x = left; x < left + patch; x++) patched[(ch * h + y) * w + x] = fill;
            }
          }
          const drop = clean - graphForwardOracle(oracle, patched, 1).data[targets[b]];
          for (let y = top; y < top + patch; y++) {
            for (let x = left; x < left + patch; x++) {
              sum[y * w + x] += drop;
              covered[y * w + x]++;
            }
          }
        }
      }
      for (let q = 0; q < h * w; q++) expected[b * h * w + q] = sum[q] / covered[q];
    }
    // Seven patched images per pass: 50 of them run in passes that split images.
    const memoryBudget = Math.ceil((7 * bytesPerImage(exec)) / 3);
    const result = await computeSaliency(exec, images, count, {
      method: "occlusion",
      targets,
      occlusion: { patch, stride, fill },
      memoryBudget,
    });
    assert.equal(result.imagesPerPass, 7);
    const scale = Math.max(1, ...expected.map(Math.abs));
    const err = maxAbsDiff(result.maps, expected);
    assert.ok(err <= 1e-4 * scale, `occlusion: error ${err} (scale ${scale})`);
    assert.ok(expected.some((v) => Math.abs(v) > 1e-3), "the patches change the logits");
  },
});

Deno.test("occlusion: patch positions cover the image; a patch larger than the image is an InputError", () => {
  assert.deepEqual(occlusionGeometry(28, 28), {
    patch: 4,
    stride: 2,
    rows: [...Array(13).keys()].map((i) => 2 * i),
    columns: [...Array(13).keys()].map((i) => 2 * i),
  });
  assert.deepEqual(occlusionGeometry(5, 7, 5, 4), { patch: 5, stride: 4, rows: [0], columns: [0, 2] });
  assert.throws(() => occlusionGeometry(8, 8, 9), InputError);
});

Deno.test({
  name: "executor: backward's gradients at named nodes are the same whether it stops there or goes on to the input",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using exec = await Executor.create(gpu, smallConvnet(5));
    const images = randomImages(2, [3, 10, 10], 3).map((v) => (v + 1) / 2);
    using x = gpu.tensor([2, 3, 10, 10], images);
    using dOut = gpu.tensor([2, 5], randomArray(10, 4));
    let tape!: ReturnType<Executor["forwardWithTape"]>;
    await gpu.run((step) => (tape = exec.forwardWithTape(step, x)));
    using _tape = tape;
    const read = async (options: Parameters<Executor["backward"]>[3]) => {
      let grads!: ReturnType<Executor["backward"]>;
      await gpu.run((step) => (grads = exec.backward(step, tape, dOut, options)));
      using _ = grads;
      const at = await Promise.all([...grads.at.values()].map((g) => gpu.read(g)));
      return { input: grads.input && (await gpu.read(grads.input)), at };
    };
    const stopped = await read({ input: false, at: ["relu2", "pool1"] });
    const through = await read({ input: true, at: ["relu2", "pool1"] });
    const plain = await read({ input: true });
    assert.equal(stopped.input, null);
    assert.deepEqual(through.at, stopped.at);
    assert.deepEqual(through.input, plain.input);
    assert.ok(stopped.at[1].some((v) => v !== 0), "pool1's gradient is not all zero");
    await assert.rejects(gpu.run((step) => void exec.backward(step, tape, dOut, { at: ["nope"] })), /no node "nope"/);
  },
});
