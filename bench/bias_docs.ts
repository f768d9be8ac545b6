// Renders docs/prototypes_digits.png and docs/prototypes_fashion.png (prototypes | criticisms |
// mean prototype saliency, one row per class, two classes each), docs/sanity_digits.png, and
// prints the MMD-critic time on 10,000 random features of width 128.
// Run: deno run -A bench/bias_docs.ts [digits|fashion|timing ...]
import { Gpu } from "../kernels/gpu.ts";
import { prototypeGrid, runBiasStage } from "../pipeline/bias/mod.ts";
import { mmdCritic } from "../pipeline/bias/mmd_critic.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { cascadingRandomization, collectFeatures, sanityFigure } from "../pipeline/explain/mod.ts";
import { type InMemoryData, readAll } from "../pipeline/data/in_memory.ts";
import { loadModelFolder } from "../pipeline/model/model_folder.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const gpu = await Gpu.create();
const what = Deno.args.length > 0 ? Deno.args : ["digits", "fashion", "timing"];
await Deno.mkdir("docs", { recursive: true });

function imagesOf(data: InMemoryData) {
  const per = sizeOf(data.shape);
  return (indices: number[]) => {
    const out = new Float32Array(indices.length * per);
    indices.forEach((index, i) => out.set(data.images.subarray(index * per, (index + 1) * per), i * per));
    return Promise.resolve(out);
  };
}

async function* examplesOf(data: InMemoryData) {
  const per = sizeOf(data.shape);
  for (let i = 0; i < data.count; i++) {
    yield { index: i, image: data.images.subarray(i * per, (i + 1) * per), label: data.labels[i] };
  }
}

async function prototypes(model: string, spec: string, classes: number[]) {
  const files = await loadModelFolder(`${Deno.env.get("BIAS_MODELS") ?? "fixtures/models"}/${model}`);
  using exec = await Executor.create(gpu, files);
  const data = await readAll(await openDataSource(spec));
  let t = performance.now();
  const table = await collectFeatures(exec, examplesOf(data));
  console.log(
    `${model}: features of ${table.count} images (${table.width} wide) in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s`,
  );
  t = performance.now();
  const report = await runBiasStage(gpu, {
    table,
    classNames: files.manifest.classes,
    saliency: { exec, images: imagesOf(data) },
  }, { classes });
  console.log(
    `${model}: MMD-critic + saliency for classes ${classes} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  for (const c of report.classes) {
    console.log(
      `  ${c.name} (pool ${c.poolSize}): prototypes ${c.prototypes.map((p) => p.index)}; criticisms ${
        c.criticisms.map((p) => `${p.index} (label ${files.manifest.classes[p.label]})`)
      }`,
    );
  }
  // 84 px thumbnails: the 28 px images drawn x3, larger than the report's.
  const grid = await prototypeGrid(report.classes, imagesOf(data), data.shape, { cell: 84, saliency: true });
  await Deno.writeFile(`docs/prototypes_${model}.${grid.format}`, grid.bytes);
  console.log(`wrote docs/prototypes_${model}.${grid.format}`);
  if (model === "digits") {
    // Rank correlations over the 16 prototypes of both classes; the figure shows the first.
    const indices = report.classes.flatMap((c) => c.prototypes.map((p) => p.index));
    const image = await imagesOf(data)(indices);
    const sanity = await cascadingRandomization(exec, image, indices.length, {
      keepMaps: true,
      samples: 16,
      steps: 32,
    });
    for (const m of sanity.methods) {
      console.log(
        `  sanity ${m.method}: rho by stage ${
          m.stages.map((s) => `${s.layer ?? "trained"} ${s.spearman.toFixed(2)}`).join(", ")
        }`,
      );
    }
    const figure = sanityFigure(sanity, image, data.shape);
    await Deno.writeFile(`docs/sanity_digits.${figure.format}`, figure.bytes);
    console.log(`wrote docs/sanity_digits.${figure.format}`);
  }
}

if (what.includes("digits")) await prototypes("digits", "mnist:test", [3, 7]);
if (what.includes("fashion")) await prototypes("fashion", "fashion-mnist:test", [0, 6]);
if (what.includes("timing")) {
  const n = 10000, width = 128;
  const random = mulberry32(1);
  const features = Float32Array.from({ length: n * width }, () => random());
  await mmdCritic(gpu, features.subarray(0, 64 * width), width); // compile first
  const t = performance.now();
  await mmdCritic(gpu, features, width);
  console.log(
    `MMD-critic (8 prototypes, 4 criticisms, median heuristic) on ${n} x ${width}: ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s on ${gpu.adapter.description}`,
  );
}
