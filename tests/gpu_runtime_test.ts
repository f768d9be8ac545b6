import assert from "node:assert/strict";
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { DeviceLostError, GpuError } from "../kernels/errors.ts";
import { Gpu } from "../kernels/gpu.ts";
import { defineKernel } from "../kernels/kernel.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

const layout = tgpu.bindGroupLayout({
  params: { uniform: d.struct({ n: d.u32 }).$name("Params") },
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

Deno.test({
  name: "gpu runtime: a WGSL compile error is a GpuError naming the kernel and the line",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const broken = defineKernel(
      "broken_kernel",
      layout,
      "@compute @workgroup_size(1) fn main() {\n  layout.$.out[0] = undefined_name;\n}",
    );
    await assert.rejects(
      () => gpu.kernel(broken),
      (e: Error) =>
        e instanceof GpuError && /compile error in kernel broken_kernel/.test(e.message) && /line \d+/.test(e.message),
    );
  },
});

Deno.test({
  name: "gpu runtime: a validation error while running is a GpuError naming the kernel",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await gpu.kernel(
      defineKernel(
        "fill_kernel",
        layout,
        "@compute @workgroup_size(1) fn main() { layout.$.out[0] = f32(layout.$.params.n); }",
      ),
    );
    using out = gpu.tensor([4]);
    // The same buffer bound to the kernel and copied into in one encoder is fine; binding a
    // destroyed buffer is a validation error.
    const dead = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    dead.destroy();
    await assert.rejects(
      () =>
        gpu.run((step) => {
          step.dispatch(kernel, { params: { n: 1 }, out }, [1]);
          step.dispatch(kernel, {
            params: { n: 2 },
            out: { shape: [4], size: 4, dtype: "f32", buffer: dead, byteLength: 16 } as never,
          }, [1]);
        }),
      (e: Error) => e instanceof GpuError && /validation error in kernel fill_kernel/.test(e.message),
    );
    // The device stays usable after a reported error.
    await gpu.run((step) => step.dispatch(kernel, { params: { n: 7 }, out }, [1]));
    assert.equal((await gpu.read(out))[0], 7);
  },
});

Deno.test({
  name: "gpu runtime: a validation error in a copy names that copy and the kernel recorded before it",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await gpu.kernel(
      defineKernel("fill_first", layout, "@compute @workgroup_size(1) fn main() { layout.$.out[0] = 1.0; }"),
    );
    using out = gpu.tensor([4]);
    using other = gpu.tensor([4]);
    // A buffer that may not be copied from: the copy, not a kernel, is invalid.
    const storageOnly = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    const uncopyable = {
      shape: [4],
      size: 4,
      dtype: "f32",
      buffer: storageOnly,
      byteLength: 16,
      byteOffset: 0,
    } as never;
    await assert.rejects(
      () =>
        gpu.run((step) => {
          step.dispatch(kernel, { params: { n: 1 }, out }, [1]);
          step.copy(out, other);
          step.copy(uncopyable, out);
          step.dispatch(kernel, { params: { n: 2 }, out: other }, [1]);
        }),
      (e: Error) => {
        assert.ok(e instanceof GpuError);
        assert.match(e.message, /^validation error in kernel copy of \[4\] into \[4\] after kernel fill_first:/);
        return true;
      },
    );
    storageOnly.destroy();
  },
});

Deno.test({
  name: "gpu runtime: a lost device is reported as DeviceLostError, not waited on forever",
  ...gpuTest,
  async fn() {
    const gpu = await Gpu.create(); // its own device, destroyed below
    const t = gpu.tensor([4], [1, 2, 3, 4]);
    gpu.device.destroy();
    await assert.rejects(async () => {
      await gpu.read(t);
      await gpu.read(t); // the loss may be noticed on the first read or the next
    }, DeviceLostError);
    assert.throws(() => gpu.tensor([1]), DeviceLostError);
  },
});

Deno.test({
  name: "gpu runtime: disposing a tensor returns its buffer to the pool for reuse",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const live = gpu.pool.live;
    const a = gpu.tensor([1000]);
    assert.equal(gpu.pool.live, live + 1);
    const buffer = a.buffer;
    a.dispose();
    assert.equal(gpu.pool.live, live);
    using b = gpu.tensor([900]); // same size bucket
    assert.equal(b.buffer, buffer);
    assert.throws(() => a.buffer, /used after dispose/);
  },
});

Deno.test({
  name: "gpu runtime: readMany returns each tensor's own values, whatever their sizes and types",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const a = Float32Array.from({ length: 7 }, (_, i) => i * 0.5 - 1);
    const b = Uint32Array.from({ length: 3 }, (_, i) => 4_000_000_000 + i);
    const c = Float32Array.from({ length: 1 }, () => 42);
    using ta = gpu.tensor([7], a);
    using tb = gpu.tensor([3], b, "u32");
    using tc = gpu.tensor([1], c);
    const [ra, rb, rc] = await gpu.readMany([ta, tb, tc]);
    assert.deepEqual(new Float32Array(ra), a);
    assert.deepEqual(new Uint32Array(rb), b);
    assert.deepEqual(new Float32Array(rc), c);
  },
});
