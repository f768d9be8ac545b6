/**
 * In-process fuzzing of every reader the commands call, one property per file format: fast-check
 * damages a small valid file (byte-level for binary formats, structurally for JSON and CSV) and the
 * reader must either succeed or throw an InputError of one line that names the file, never another
 * exception. Inputs stay small (the valid file plus a few dozen bytes, or deep nesting of at most
 * 20,000 levels), so no case can allocate much; the seed is fixed, so CI replays the same cases.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors } from "../pipeline/formats/safetensors.ts";
import { readNpy } from "../pipeline/formats/npy.ts";
import { decodeIdx } from "../pipeline/formats/idx.ts";
import { decodeImage, decodeImageWith } from "../pipeline/data/decode_image.ts";
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import { importOnnx } from "../pipeline/model/onnx/import.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { loadModelFolder } from "../pipeline/model/model_folder.ts";
import { loadHierarchy } from "../pipeline/model/hierarchy.ts";
import { readGroupsFile } from "../pipeline/bias/groups.ts";
import { ChunkStore } from "../pipeline/audit/chunks.ts";
import { readJudgments } from "../pipeline/review/judgments.ts";
import { readRealLabels } from "../pipeline/data/real_labels.ts";
import { openImagenet } from "../pipeline/data/imagenet.ts";
import {
  deeplyNestedOnnx,
  expectInputErrorOrSuccess,
  fuzzParameters,
  mutatedBytes,
  mutatedCsv,
  mutatedJson,
  mutatedOnnx,
  npyHeaders,
  npyWithHeader,
  VALID_CHUNK,
  VALID_GROUPS_CSV,
  VALID_HIERARCHY,
  VALID_JUDGMENTS,
  VALID_LOC_CSV,
  VALID_REAL,
  VALID_SIDECAR,
  validIdx,
  validIdxGz,
  validNpy,
  validOnnx,
  validSafetensors,
} from "./fuzz_fixtures.ts";

/** Fuzzes a reader of bytes held in memory. */
async function fuzzBytes(
  valid: Uint8Array,
  numRuns: number,
  source: string,
  read: (bytes: Uint8Array) => unknown,
): Promise<void> {
  await expectInputErrorOrSuccess(() => read(valid), source); // the valid file itself must read
  await fc.assert(
    fc.asyncProperty(mutatedBytes(valid), (bytes) => expectInputErrorOrSuccess(() => read(bytes), source)),
    fuzzParameters(numRuns),
  );
}

/** Fuzzes a reader of a file on disk: each case is written to `path` first. */
async function fuzzFile(
  path: string,
  cases: fc.Arbitrary<Uint8Array>,
  numRuns: number,
  read: () => unknown,
  named = path,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(cases, async (bytes) => {
      await Deno.writeFile(path, bytes);
      await expectInputErrorOrSuccess(read, named);
    }),
    fuzzParameters(numRuns),
  );
}

Deno.test("fuzz: safetensors", async () => {
  await fuzzBytes(validSafetensors(), 40_000, "w.safetensors", (b) => readSafetensors(b, "w.safetensors"));
});

Deno.test("fuzz: npy", async () => {
  await fuzzBytes(validNpy(), 40_000, "x.npy", (b) => readNpy(b, "x.npy"));
  await fc.assert(
    fc.asyncProperty(
      npyHeaders,
      (header) => expectInputErrorOrSuccess(() => readNpy(npyWithHeader(header), "h.npy"), "h.npy"),
    ),
    fuzzParameters(10_000),
  );
});

Deno.test("fuzz: IDX, plain and gzipped", async () => {
  await fuzzBytes(validIdx(), 20_000, "images.idx", (b) => decodeIdx(b, "images.idx"));
  await fuzzBytes(await validIdxGz(), 5000, "images.idx.gz", (b) => decodeIdx(b, "images.idx.gz"));
});

Deno.test("fuzz: PNG", async () => {
  const rgba = encodePng({
    width: 3,
    height: 2,
    channels: 4,
    depth: 8,
    data: Uint8Array.from({ length: 24 }, (_, i) => 10 * i),
  });
  const grey = encodePng({ width: 5, height: 3, channels: 1, depth: 16, data: new Uint16Array(15).fill(300) });
  await fuzzBytes(rgba, 15_000, "a.png", (b) => decodeImage(b, "a.png"));
  await fuzzBytes(grey, 5000, "g.png", (b) => decodeImage(b, "g.png"));
});

Deno.test("fuzz: JPEG, with jpeg-js and with sharp", async () => {
  const pixels = Uint8Array.from({ length: 8 * 8 * 4 }, (_, i) => (i * 37) % 256);
  const jpeg = new Uint8Array(encodeJpeg({ width: 8, height: 8, data: pixels }, 80).data);
  await fuzzBytes(jpeg, 8000, "a.jpg", (b) => decodeImage(b, "a.jpg"));
  await fuzzBytes(jpeg, 1500, "b.jpg", (b) => decodeImageWith(b, "b.jpg", "sharp"));
});

Deno.test("fuzz: ONNX", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const source = join(folder, "net.onnx");
    await fuzzBytes(validOnnx(), 10_000, source, (b) => importOnnx(b, { source, folder }));
    await fc.assert(
      fc.asyncProperty(
        mutatedOnnx(validOnnx()),
        (b) => expectInputErrorOrSuccess(() => importOnnx(b, { source, folder }), source),
      ),
      fuzzParameters(3000),
    );
    const nested = fc.tuple(
      fc.constantFrom("subgraphs" as const, "types" as const, "groups" as const),
      fc.constantFrom(5, 70, 20_000),
    )
      .map(([kind, levels]) => deeplyNestedOnnx(kind, levels));
    await fc.assert(
      fc.asyncProperty(nested, (b) => expectInputErrorOrSuccess(() => importOnnx(b, { source, folder }), source)),
      fuzzParameters(30),
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: ONNX sidecar", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const onnx = join(folder, "net.onnx");
    await Deno.writeFile(onnx, validOnnx());
    await fuzzFile(`${onnx}.json`, mutatedJson(VALID_SIDECAR), 2000, () => loadModel(onnx));
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: model folder manifest and graph", async () => {
  const folder = await Deno.makeTempDir();
  try {
    for (const file of ["manifest.json", "graph.json", "weights.safetensors"]) {
      await Deno.copyFile(join("fixtures/models/digits", file), join(folder, file));
    }
    for (const file of ["manifest.json", "graph.json"]) {
      const path = join(folder, file);
      const valid = JSON.parse(await Deno.readTextFile(path));
      // A damaged graph may be reported against the weights it no longer matches: any file of the folder will do.
      await fuzzFile(path, mutatedJson(valid), 600, () => loadModelFolder(folder), folder);
      await Deno.writeTextFile(path, JSON.stringify(valid));
    }
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: hierarchy JSON", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const path = join(folder, "hierarchy.json");
    await fuzzFile(path, mutatedJson(VALID_HIERARCHY), 3000, () => loadHierarchy(path, ["a", "b", "c"]));
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: groups CSV", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const path = join(folder, "groups.csv");
    await fuzzFile(path, mutatedCsv(VALID_GROUPS_CSV), 5000, () => readGroupsFile(path, { count: 4 }));
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: chunk files read on --resume", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const fingerprint = { seed: 1 };
    await ChunkStore.open(folder, fingerprint, { resume: false, force: false });
    const path = join(folder, "partial", "batch-000000.json");
    await fuzzFile(path, mutatedJson(VALID_CHUNK), 2000, async () => {
      const store = await ChunkStore.open(folder, fingerprint, { resume: true, force: false });
      await store.read(0);
    });
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: ImageNet-ReaL labels", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const path = join(folder, "real.json");
    await fuzzFile(path, mutatedJson(VALID_REAL), 2000, () => readRealLabels(path, { classes: 3, count: 3 }));
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: Kaggle LOC_val_solution.csv", async () => {
  const folder = await Deno.makeTempDir();
  try {
    for (const id of ["00000001", "00000002"]) {
      await Deno.writeFile(join(folder, `ILSVRC2012_val_${id}.JPEG`), new Uint8Array());
    }
    const path = join(folder, "LOC_val_solution.csv");
    const options = { classIds: ["n01751748", "n09193705"], height: 8, width: 8 };
    await fuzzFile(path, mutatedCsv(VALID_LOC_CSV), 3000, () => openImagenet(folder, options, { decoder: "jpeg-js" }));
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("fuzz: judgments.jsonl: every line is read or reported, in one line", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const known = new Set(["mistake:3", "adversarial:4"]);
    const path = join(folder, "judgments.jsonl");
    const lines = VALID_JUDGMENTS.split("\n").filter(Boolean);
    const cases = fc.oneof(mutatedBytes(new TextEncoder().encode(VALID_JUDGMENTS)), mutatedJson(JSON.parse(lines[0])));
    await fc.assert(
      fc.asyncProperty(cases, async (bytes) => {
        await Deno.writeFile(path, bytes);
        // Malformed lines are skipped and reported, so nothing may throw here at all.
        const log = await readJudgments(folder, known);
        assert.ok(log.judgments.size + log.malformed.length <= log.lines);
        for (const m of log.malformed) assert.doesNotMatch(m.reason, /[\n\r]/, `line ${m.line}: ${m.reason}`);
      }),
      fuzzParameters(4000),
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
