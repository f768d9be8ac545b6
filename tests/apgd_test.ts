/**
 * APGD, the iterative-attack engine, compaction and the trust checks, on small models: a linear
 * model whose minimal L-infinity flipping epsilon has a closed form (up to a monotone 1-D search),
 * the small ResNet fixture, and a model built to mask its gradients.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { attackBatch } from "../pipeline/audit/attacks.ts";
import { predictBatch } from "../pipeline/audit/evaluate.ts";
import { GpuBatch } from "../pipeline/audit/gpu_batch.ts";
import { APGD_DEFAULTS, iterativeAttack, startNoise } from "../pipeline/audit/iterative_attack.ts";
import { bisectFlipEpsilons, lineSearchFlipEpsilons } from "../pipeline/audit/min_epsilon.ts";
import {
  carryFlips,
  chooseTargets,
  RobustnessAccumulator,
  robustnessBatch,
  type RobustnessSettings,
} from "../pipeline/audit/robustness.ts";
import { Hierarchy } from "../pipeline/model/hierarchy.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { linearModel } from "./audit_fixture.ts";
import { contextFor, logitsOf, ownBatch } from "./attack_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { softmaxXentOracle } from "./ops_oracle.ts";
import { randomArray } from "./oracle.ts";
import { resnetFixture } from "./resnet_fixture.ts";

/**
 * Two classes: the cross-entropy's gradient then points along the margin's, so the attack's best
 * point is the analytic one (with more classes it blends their directions, and can need more).
 */
const LINEAR = linearModel(11, 2, 3, 2);
const RESNET = resnetFixture();

/**
 * The linear model's minimal L-infinity flipping epsilon of one image, in float64: for each other
 * class k the margin logit_y - logit_k is linear in the image, so its minimum over the ball and the
 * range [0, 1] is at x - eps sign(a) clipped (a: the margin's gradient), and it falls with eps; the
 * smallest eps that makes it negative is found by bisection to 1e-9. Infinity when none can.
 */
function linearMinimalEpsilon(model: ModelFiles, image: Float32Array, label: number): number {
  const w = model.weights.get("fc.w")!, b = model.weights.get("fc.b")!;
  const [classes, features] = w.shape;
  const plane = features / model.manifest.input.channels;
  const { mean, std } = model.manifest.normalization;
  const c = (i: number) => Math.floor(i / plane);
  let best = Infinity;
  for (let k = 0; k < classes; k++) {
    if (k === label) continue;
    const a = Array.from(
      { length: features },
      (_, i) => (w.data[label * features + i] - w.data[k * features + i]) / std[c(i)],
    );
    const margin = (eps: number) =>
      b.data[label] - b.data[k] +
      a.reduce((s, ai, i) => {
        const x = Math.min(1, Math.max(0, image[i] - eps * Math.sign(ai)));
        return s + ai * (x - mean[c(i)]);
      }, 0);
    if (margin(1) >= 0) continue;
    let lo = 0, hi = 1;
    while (hi - lo > 1e-9) {
      const mid = (lo + hi) / 2;
      if (margin(mid) < 0) hi = mid;
      else lo = mid;
    }
    best = Math.min(best, hi);
  }
  return best;
}

Deno.test({
  name: "on a linear model APGD-CE's bisected flipping epsilon is the analytic minimal epsilon, within the resolution",
  ...gpuTest,
  async fn() {
    const c = await contextFor(LINEAR);
    const count = 16;
    const host = ownBatch(LINEAR, count, 5);
    const per = host.images.length / count;
    using batch = GpuBatch.upload(c, host);
    const resolution = 1 / 512;
    const brackets = Array.from({ length: count }, () => ({ lo: 0, hi: 1 }));
    const found = await bisectFlipEpsilons(c, batch, host.labels, brackets, resolution, {
      kind: "apgd-ce",
      apgdSteps: 50,
    });
    let checked = 0;
    for (let n = 0; n < count; n++) {
      const exact = linearMinimalEpsilon(LINEAR, host.images.subarray(n * per, (n + 1) * per), host.labels[n]);
      if (!(exact < 0.9)) continue;
      checked++;
      const e = found[n]!;
      // No attack flips below the minimum (float32 slack); APGD gets within the bisection's resolution of it.
      assert.ok(e >= exact - 1e-4, `image ${n}: ${e} below the minimal epsilon ${exact}`);
      assert.ok(e <= exact + resolution + 2e-3, `image ${n}: ${e} vs the minimal epsilon ${exact}`);
    }
    assert.ok(checked >= 10, `only ${checked} images can be flipped`);
  },
});

Deno.test({
  name: "the line search's epsilon is an upper bound: a verified flip on the segment, at or above the analytic minimum",
  ...gpuTest,
  async fn() {
    const c = await contextFor(LINEAR);
    const count = 16;
    const host = ownBatch(LINEAR, count, 9);
    const per = host.images.length / count;
    using batch = GpuBatch.upload(c, host);
    // The adversarial points: APGD-CE's at epsilon 0.6, where it fools most images.
    const { images, success } = await iterativeAttack(c, batch, 0.6, { ...APGD_DEFAULTS, steps: 30 }, {
      readImages: true,
    });
    const brackets = success.map((s) => (s ? { lo: 0, hi: 0.6 } : null));
    const resolution = 1 / 256;
    const found = await lineSearchFlipEpsilons(c, batch, brackets, images!, resolution, (p, i) => p !== host.labels[i]);
    let checked = 0;
    for (let n = 0; n < count; n++) {
      if (!success[n]) {
        assert.equal(found[n], null);
        continue;
      }
      checked++;
      const e = found[n]!;
      const x = host.images.subarray(n * per, (n + 1) * per);
      const exact = linearMinimalEpsilon(LINEAR, x, host.labels[n]);
      assert.ok(e >= exact - 1e-4 && e <= 0.6, `image ${n}: ${e} outside [${exact}, 0.6]`);
      const point = x.map((v, d) => v + (e / 0.6) * (images![n * per + d] - v));
      const logits = logitsOf(LINEAR, point, 1);
      assert.ok(Math.max(...point.map((v, d) => Math.abs(v - x[d]))) <= e + 1e-6, `image ${n}: outside its ball`);
      assert.notEqual(logits.indexOf(Math.max(...logits)), host.labels[n], `image ${n}: no flip at ${e}`);
    }
    assert.ok(checked >= 8, `only ${checked} images fooled at 0.6`);
  },
});

Deno.test({
  name: "APGD and PGD points stay in the ball and the range, and beat the clean image: success first, then loss",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("apgd-ce" as const, "apgd-dlr" as const, "pgd" as const),
        fc.boolean(),
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        async (kind, targeted, count, seed) => {
          const host = ownBatch(RESNET, count, seed);
          // Half of them labelled wrongly, so some start out "fooled".
          host.labels = host.labels.map((l, i) => (i % 2 ? (l + 1) % 5 : l));
          const eps = Array.from(randomArray(count, seed + 1), (v) => 0.02 + Math.abs(v) * 0.2);
          const targets = targeted ? Array.from(host.labels, (l) => (l + 2) % 5) : undefined;
          using batch = GpuBatch.upload(c, host);
          const settings = { ...APGD_DEFAULTS, steps: 6, loss: kind === "apgd-dlr" ? "dlr" as const : "ce" as const };
          const result = kind === "pgd"
            ? { ...(await attackBatch(c, batch, eps, { kind, steps: 6, targets, readImages: true })), success: null }
            : await iterativeAttack(c, batch, eps, settings, { targets, readImages: true });
          const images = result.images!;
          const per = images.length / count;
          images.forEach((v, i) => {
            const e = eps[Math.floor(i / per)];
            assert.ok(Math.abs(v - host.images[i]) <= e * (1 + 1e-6) + 1e-7, `pixel ${i} moved beyond ${e}`);
            assert.ok(v >= 0 && v <= 1, `pixel ${i} = ${v} left [0, 1]`);
          });
          const logits = logitsOf(RESNET, images, count), cleanLogits = logitsOf(RESNET, host.images, count);
          const against = targets ?? Array.from(host.labels);
          const ce = (z: Float64Array) => softmaxXentOracle(z, count, 5, against).loss;
          const [after, before] = [ce(logits), ce(cleanLogits)];
          for (let n = 0; n < count; n++) {
            const row = Array.from(logits.subarray(n * 5, (n + 1) * 5));
            const top = row.indexOf(Math.max(...row));
            assert.equal(result.predictions[n], top, `image ${n}: the reported prediction is the point's`);
            const cleanRow = Array.from(cleanLogits.subarray(n * 5, (n + 1) * 5));
            const cleanFooled = cleanRow.indexOf(Math.max(...cleanRow)) !== host.labels[n];
            if (cleanFooled) {
              // Success first: a clean image already fooled is returned as it is.
              assert.deepEqual(images.subarray(n * per, (n + 1) * per), host.images.subarray(n * per, (n + 1) * per));
            } else if (top === host.labels[n] && kind !== "apgd-dlr") {
              // Not fooled: the point's loss is no worse than the clean image's.
              const gain = targets ? before[n] - after[n] : after[n] - before[n];
              assert.ok(gain >= -1e-4, `image ${n}: loss ${before[n]} -> ${after[n]}`);
            }
          }
        },
      ),
      { numRuns: 10 },
    );
  },
});

Deno.test({
  name: "a targeted attack whose goal is the target reaches it or reports that it failed",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const count = 8;
    const host = ownBatch(RESNET, count, 12);
    const targets = Array.from(host.labels, (l, i) => (l + 1 + (i % 4)) % 5);
    using batch = GpuBatch.upload(c, host);
    for (const loss of ["ce", "dlr"] as const) {
      const settings = { ...APGD_DEFAULTS, loss, steps: 20 };
      const result = await iterativeAttack(c, batch, 0.15, settings, { targets, goal: "target", readImages: true });
      const logits = logitsOf(RESNET, result.images!, count);
      for (let n = 0; n < count; n++) {
        const row = Array.from(logits.subarray(n * 5, (n + 1) * 5));
        // The first point to reach the target lies just past a decision boundary: float32 and
        // float64 may rank a near-tie differently, so "reached" is judged up to 1e-4.
        const gap = row[targets[n]] - Math.max(...row.filter((_, k) => k !== targets[n]));
        const says = result.success[n];
        assert.ok(says ? gap > -1e-4 : gap < 1e-4, `${loss} image ${n}: success ${says}, target logit gap ${gap}`);
      }
      assert.ok(result.success.some(Boolean), `${loss}: no target reached at epsilon 0.15`);
    }
  },
});

const SETTINGS: RobustnessSettings = {
  epsilons: [0, 0.02, 0.05, 0.1, 0.3],
  attack: "apgd-ce",
  pgd: { steps: 3, stepFraction: 0.25, randomStart: true },
  apgd: { steps: 5, restarts: 1 },
  square: { queries: 30 },
  fab: { steps: 5 },
  resolution: 0,
  depth: 1,
};

Deno.test({
  name: "compaction changes no figure: the sweep equals attacking every image at every epsilon, carried forward",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 8, 31);
    using batch = GpuBatch.upload(c, host);
    const clean = Uint32Array.from(host.labels);
    for (const attack of ["apgd-ce", "pgd"] as const) {
      const settings = { ...SETTINGS, attack };
      const compacted = await robustnessBatch(c, batch, clean, settings);
      const raw: Uint32Array[] = [];
      for (const epsilon of settings.epsilons) {
        const options = { kind: attack, steps: 3, apgdSteps: 5 };
        raw.push(epsilon > 0 ? (await attackBatch(c, batch, epsilon, options)).predictions : clean);
      }
      assert.deepEqual(compacted.sweeps[attack], carryFlips(raw, host.labels), attack);
      // Some flips at each step up, so the sweep did compact.
      const correct = compacted.sweeps[attack]!.map((p) => p.filter((v, i) => v === host.labels[i]).length);
      assert.ok(correct.at(-1)! < correct[1], `${attack}: accuracy ${correct}`);
    }
  },
});

Deno.test({
  name: "an image's outcomes do not depend on its batch: two halves give what the whole batch gives (AutoAttack too)",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 6, 41);
    const settings = { ...SETTINGS, attack: "autoattack" as const, resolution: 1 / 64 };
    const run = async (positions: number[]) => {
      const part = { ...host, ...GpuBatch.upload(c, host, positions).host };
      using b = GpuBatch.upload(c, part);
      return await robustnessBatch(c, b, Uint32Array.from(part.labels), settings);
    };
    const whole = await run([0, 1, 2, 3, 4, 5]);
    const [left, right] = [await run([0, 1, 2]), await run([3, 4, 5])];
    for (const [name, sweep] of Object.entries(whole.sweeps)) {
      const joined = sweep!.map((_, j) => [...left.sweeps[name as "fgsm"]![j], ...right.sweeps[name as "fgsm"]![j]]);
      assert.deepEqual(sweep!.map((p) => Array.from(p)), joined, name);
    }
    assert.deepEqual(whole.minEpsilons, [...left.minEpsilons, ...right.minEpsilons]);
    assert.deepEqual(Object.keys(whole.sweeps).sort(), ["apgd-ce", "apgd-t", "autoattack", "fab-t", "fgsm", "square"]);
  },
});

Deno.test("random starts are drawn per image: the same for an index in any batch, different across indices", () => {
  const a = startNoise(1, [5, 9], 4, 0), b = startNoise(1, [9], 4, 0);
  assert.deepEqual(a.subarray(4), b);
  assert.notDeepEqual(Array.from(a.subarray(0, 4)), Array.from(a.subarray(4)));
  assert.notDeepEqual(Array.from(startNoise(1, [9], 4, 1)), Array.from(b));
  assert.ok(a.every((v) => v >= -1 && v < 1));
});

/**
 * A model built to mask its gradients: a 1x1 conv of slope 2000 around 0.5 then a sigmoid, so each
 * pixel is all but a step function (its derivative underflows to 0 away from 0.5), then a dense head.
 */
function maskingModel(): ModelFiles {
  const size = 4, classes = 4, features = size * size;
  return {
    graph: {
      format: "convnet-graph",
      version: 1,
      input: { name: "image", shape: [1, size, size] },
      nodes: [
        {
          name: "steep",
          op: "conv2d",
          inputs: ["image"],
          stride: [1, 1],
          padding: [0, 0],
          dilation: [1, 1],
          groups: 1,
          weight: "steep.w",
          bias: "steep.b",
        },
        { name: "step", op: "sigmoid", inputs: ["steep"] },
        { name: "flat", op: "flatten", inputs: ["step"] },
        { name: "fc", op: "dense", inputs: ["flat"], weight: "fc.w", bias: "fc.b" },
      ],
      output: "fc",
    },
    weights: new Map([
      ["steep.w", { shape: [1, 1, 1, 1], data: Float32Array.of(2000) }],
      ["steep.b", { shape: [1], data: Float32Array.of(-1000) }],
      ["fc.w", { shape: [classes, features], data: randomArray(classes * features, 77).map((v) => 2 * v) }],
      ["fc.b", { shape: [classes], data: new Float32Array(classes) }],
    ]),
    manifest: {
      format: "convnet-model",
      version: 1,
      inputRange: [0, 1],
      name: "masking",
      classes: Array.from({ length: classes }, (_, k) => `class ${k}`),
      input: { channels: 1, height: size, width: size },
      normalization: { mean: [0], std: [1] },
    },
  };
}

Deno.test({
  name: "on a model that masks its gradients the trust checks fire, name the cause and the images",
  ...gpuTest,
  async fn() {
    const model = maskingModel();
    const c = await contextFor(model);
    const count = 12;
    // Binary images (0.2 or 0.8): every pixel far from the step at 0.5.
    const images = randomArray(count * 16, 3).map((v) => (v > 0 ? 0.8 : 0.2));
    const host = ownBatch(model, count, 0, images);
    using batch = GpuBatch.upload(c, host);
    const settings: RobustnessSettings = {
      ...SETTINGS,
      epsilons: [0, 0.1, 0.35],
      attack: "autoattack",
      square: { queries: 300 },
    };
    const hierarchy = Hierarchy.flat(model.manifest.classes);
    const acc = new RobustnessAccumulator(settings, hierarchy, 1);
    acc.add(await robustnessBatch(c, batch, Uint32Array.from(host.labels), settings));
    const summary = acc.finish();
    const checks = new Map(summary.flags.map((f) => [f.check, f]));
    const near = checks.get("near-zero-gradient");
    assert.ok(near, `no near-zero-gradient flag: ${JSON.stringify(summary.flags)}`);
    assert.deepEqual(near.images, host.indices, "every image's gradient is masked");
    assert.match(near.message, /gradient masking/);
    const square = checks.get("square-beats-white-box");
    assert.ok(
      square && square.count > 0,
      `Square did not beat the white-box attacks: ${JSON.stringify(summary.curves)}`,
    );
    assert.ok(square.images.every((i) => host.indices.includes(i)));
    assert.ok(summary.warnings.some((w) => w.includes("Square, a black-box attack")));
    assert.ok(!checks.has("randomised") && !checks.has("softmax-output"), "a deterministic logit model");
  },
});

Deno.test({
  name: "on an ordinary model no per-image trust check fires",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 8, 51);
    using batch = GpuBatch.upload(c, host);
    const clean = (await predictBatch(c, batch)).map((p) => p.top[0]);
    const acc = new RobustnessAccumulator(SETTINGS, Hierarchy.flat(RESNET.manifest.classes), 1);
    acc.add(await robustnessBatch(c, batch, clean, SETTINGS));
    assert.deepEqual(acc.finish().flags, []);
  },
});

Deno.test({
  name: "--target: least-likely, random and fixed targets; a targeted sweep's flips are its targets, nothing else",
  ...gpuTest,
  async fn() {
    const logits = Float32Array.of(3, 1, 2, 0, /**/ 0, 5, 1, 2);
    assert.deepEqual(chooseTargets("least-likely", logits, 4, [0, 1], [0, 1], 1), [3, 0]);
    assert.deepEqual(chooseTargets(2, logits, 4, [0, 1], [0, 1], 1), [2, 2]);
    const random = chooseTargets(
      "random",
      new Float32Array(4 * 50),
      4,
      new Array(50).fill(1),
      [...Array(50).keys()],
      1,
    );
    assert.ok(random.every((t) => t !== 1 && t >= 0 && t < 4) && new Set(random).size === 3, `${random}`);

    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 8, 61);
    using batch = GpuBatch.upload(c, host);
    for (const target of ["least-likely", "random"] as const) {
      const settings = { ...SETTINGS, apgd: { steps: 30, restarts: 1 }, target };
      const result = await robustnessBatch(c, batch, Uint32Array.from(host.labels), settings);
      const cleanLogits = logitsOf(RESNET, host.images, 8);
      const expected = chooseTargets(target, Float32Array.from(cleanLogits), 5, host.labels, host.indices, 3);
      for (const predictions of result.sweeps["apgd-ce"]!) {
        predictions.forEach((p, i) =>
          assert.ok(p === host.labels[i] || p === expected[i], `${target} image ${i}: ${p}`)
        );
      }
      const reached = result.sweeps["apgd-ce"]!.at(-1)!.filter((p, i) => p === expected[i]).length;
      assert.ok(reached > 0, `${target}: no target reached at epsilon 0.3`);
    }
  },
});

Deno.test({
  name: "a restart attacks only the images not fooled yet, from a fresh start, and only adds successes",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 10, 71);
    using batch = GpuBatch.upload(c, host);
    const settings = { ...APGD_DEFAULTS, steps: 4 };
    const one = await iterativeAttack(c, batch, 0.04, settings);
    const three = await iterativeAttack(c, batch, 0.04, { ...settings, restarts: 3 });
    one.success.forEach((s, i) => {
      if (s) assert.equal(three.predictions[i], one.predictions[i], `image ${i}: the first run's flip is kept`);
      assert.ok(!s || three.success[i], `image ${i}: a restart lost a success`);
      assert.ok(three.objective[i] >= one.objective[i] - 1e-9 || three.success[i], `image ${i}: lower objective`);
    });
    // The later starts are new: the second run alone (restart index 1) differs from the first.
    const second = await iterativeAttack(c, batch, 0.04, settings, { firstRestart: 1 });
    assert.notDeepEqual(Array.from(second.objective), Array.from(one.objective));
  },
});
