/**
 * The corpus of hostile inputs, each run once through the real CLI: the command must exit 2 with
 * exactly one line on stderr that names the file, print no stack trace, and change no file outside
 * its out folder. The corpus is generated here, in a temporary folder, from the same small valid
 * files the in-process fuzzing damages.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { onnx, type TensorProto } from "../pipeline/model/onnx/proto.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { bars, linearModel, writeIdx } from "./audit_fixture.ts";
import { errorLines, runCli, spawnCli, waitForFile } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { VALID_HIERARCHY, VALID_SIDECAR, validOnnx, validSafetensors } from "./fuzz_fixtures.ts";

/** The cheapest audit: few images, one attack step, no explanation or bias pictures. */
const CHEAP = [
  "--limit",
  "16",
  "--batch-size",
  "4",
  "--epsilons",
  "0,0.1",
  "--pgd-steps",
  "1",
  "--attack-sample",
  "4",
  "--skip-min-epsilon",
  "--sanity-images",
  "0",
  "--prototypes",
  "0",
  "--quiet",
];

/** Every file under `root` (out folders left out) with its size and modification time; folders by name only. */
async function snapshot(root: string, outs: readonly string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const folders = [root];
  while (folders.length > 0) {
    const folder = folders.pop()!;
    for await (const entry of Deno.readDir(folder)) {
      const path = join(folder, entry.name);
      if (outs.includes(path)) continue;
      const info = await Deno.lstat(path);
      if (info.isDirectory) folders.push(path);
      // A folder's own mtime moves whenever an entry is added (the out folder itself): its files tell.
      files.set(path, info.isDirectory ? "folder" : `${info.isFile ? info.size : "special"} ${info.mtime?.getTime()}`);
    }
  }
  return files;
}

/** An ONNX model: `validOnnx` with one initializer changed. */
function onnxWith(name: string, change: (t: TensorProto) => void): Uint8Array {
  const model = onnx.ModelProto.decode(validOnnx());
  const tensor = model.graph!.initializer!.find((t) => t.name === name)!;
  change(tensor);
  return onnx.ModelProto.encode(model).finish();
}

/** Points an initializer at an external data file instead of its raw_data. */
const external = (location: string) => (t: TensorProto) => {
  t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  t.externalData = [{ key: "location", value: location }];
  t.rawData = new Uint8Array();
};

interface CorpusCase {
  name: string;
  command: "audit" | "predict";
  /** The command's arguments, given the case's own folder and out folder. */
  args: (dir: string, out: string) => string[];
  /** Writes the case's hostile files into its folder. */
  make: (dir: string) => Promise<void>;
  /** What the one line must name (the file or the tensor). */
  names: RegExp;
}

/** A 4-class linear model on 1x8x8 images as a folder, with the 16 bar images it audits as an IDX pair. */
async function baseline(dir: string): Promise<{ model: string; data: string }> {
  const model = join(dir, "model");
  await saveModelFolder(model, linearModel(3, 1, 8, 4));
  return { model, data: await writeIdx(dir, "bars", bars(16, 4, 8, 9)) };
}

/** `audit --model M --data D --out OUT` of the baseline (or of the model and data given), plus `extra` flags. */
function auditArgs(
  dir: string,
  out: string,
  { extra = [], model = join(dir, "model"), data }: { extra?: string[]; model?: string; data?: string } = {},
): string[] {
  const idx = `idx:${join(dir, "bars-images.idx")},${join(dir, "bars-labels.idx")}`;
  return ["--model", model, "--data", data ?? idx, "--out", out, ...CHEAP, ...extra];
}

/** An ONNX model of VALID_SIDECAR's classes beside its sidecar; `data` is an IDX pair of 1x4x4 images. */
async function onnxCase(dir: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(join(dir, "net.onnx"), bytes);
  await Deno.writeTextFile(join(dir, "net.onnx.json"), JSON.stringify(VALID_SIDECAR));
  await writeIdx(dir, "bars", bars(16, 3, 4, 9));
}

const CORPUS: CorpusCase[] = [
  {
    // A deep hierarchy that is valid audits (tests/error_contract_test.ts); this one lacks a class's leaf.
    name: "a 20,000-level hierarchy without the leaf of class 3",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const depth = 20_000;
      const leaves = `{"name":"class 0"},{"name":"class 1"},{"name":"class 2"}`;
      const text = `{"name":"n","children":[`.repeat(depth) + leaves + "]}".repeat(depth);
      await Deno.writeTextFile(join(dir, "deep.json"), text);
    },
    args: (dir, out) => auditArgs(dir, out, { extra: ["--hierarchy", join(dir, "deep.json")] }),
    names: /deep\.json/,
  },
  {
    name: "a NUL byte in a group name",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      await Deno.writeTextFile(join(dir, "groups.csv"), "index,group\n0,mar\u0000ked\n1,clean\n");
    },
    args: (dir, out) => auditArgs(dir, out, { extra: ["--groups", join(dir, "groups.csv")] }),
    names: /groups\.csv/,
  },
  {
    name: "invalid UTF-8 in a group name",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const encoder = new TextEncoder();
      const bytes = [...encoder.encode("index,group\n0,mar"), 0xff, 0xfe, ...encoder.encode("ked\n1,clean\n")];
      await Deno.writeFile(join(dir, "groups.csv"), Uint8Array.from(bytes));
    },
    args: (dir, out) => auditArgs(dir, out, { extra: ["--groups", join(dir, "groups.csv")] }),
    names: /groups\.csv/,
  },
  {
    name: 'a manifest\'s "hierarchy": "../../../../etc/passwd"',
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const path = join(dir, "model", "manifest.json");
      const manifest = JSON.parse(await Deno.readTextFile(path));
      await Deno.writeTextFile(path, JSON.stringify({ ...manifest, hierarchy: "../../../../etc/passwd" }));
    },
    args: (dir, out) => auditArgs(dir, out),
    names: /manifest\.json/,
  },
  {
    name: "a manifest listing 20 classes for 4 logits",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const path = join(dir, "model", "manifest.json");
      const manifest = JSON.parse(await Deno.readTextFile(path));
      const classes = Array.from({ length: 20 }, (_, c) => `class ${c}`);
      await Deno.writeTextFile(path, JSON.stringify({ ...manifest, classes }));
    },
    args: (dir, out) => auditArgs(dir, out),
    names: /manifest\.json/,
  },
  {
    name: "truncated weights.safetensors",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const path = join(dir, "model", "weights.safetensors");
      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, bytes.length - 3));
    },
    args: (dir, out) => auditArgs(dir, out),
    names: /weights\.safetensors/,
  },
  {
    name: "a truncated IDX image file",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const path = join(dir, "bars-images.idx");
      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, 100));
    },
    args: (dir, out) => auditArgs(dir, out),
    names: /bars-images\.idx/,
  },
  {
    name: "a truncated PNG in a folder: data set",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const { encode } = await import("fast-png");
      for (const c of [0, 1, 2, 3]) {
        await Deno.mkdir(join(dir, "images", `class ${c}`), { recursive: true });
        const png = encode({ width: 8, height: 8, channels: 1, depth: 8, data: new Uint8Array(64).fill(40 * c) });
        await Deno.writeFile(join(dir, "images", `class ${c}`, "a.png"), c === 2 ? png.subarray(0, 40) : png);
      }
    },
    args: (dir, out) => auditArgs(dir, out, { data: `folder:${join(dir, "images")}` }),
    names: /a\.png/,
  },
  {
    name: "ImageNet-ReaL labels of the wrong type",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      await Deno.writeTextFile(join(dir, "real.json"), JSON.stringify([[0], ["1"], [2]]));
    },
    args: (dir, out) => auditArgs(dir, out, { extra: ["--real-labels", join(dir, "real.json")] }),
    names: /real\.json/,
  },
  {
    name: "a hierarchy file that is not UTF-8 JSON",
    command: "audit",
    make: async (dir) => {
      await baseline(dir);
      const text = new TextEncoder().encode(JSON.stringify(VALID_HIERARCHY));
      await Deno.writeFile(
        join(dir, "h.json"),
        Uint8Array.from([...text.subarray(0, 10), 0xff, 0x0a, ...text.subarray(10)]),
      );
    },
    args: (dir, out) => auditArgs(dir, out, { extra: ["--hierarchy", join(dir, "h.json")] }),
    names: /h\.json/,
  },
  {
    name: "an ONNX model cut in half",
    command: "audit",
    make: async (dir) => {
      const bytes = validOnnx();
      await onnxCase(dir, bytes.subarray(0, bytes.length >> 1));
    },
    args: (dir, out) => auditArgs(dir, out, { model: join(dir, "net.onnx") }),
    names: /net\.onnx/,
  },
  {
    name: "an ONNX sidecar whose classes are not strings",
    command: "audit",
    make: async (dir) => {
      await onnxCase(dir, validOnnx());
      await Deno.writeTextFile(join(dir, "net.onnx.json"), JSON.stringify({ ...VALID_SIDECAR, classes: [1, 2, 3] }));
    },
    args: (dir, out) => auditArgs(dir, out, { model: join(dir, "net.onnx") }),
    names: /net\.onnx\.json/,
  },
  {
    name: "a NaN batch-norm bias in an ONNX model",
    command: "audit",
    make: (dir) =>
      onnxCase(dir, onnxWith("bn1", (t) => (t.rawData = new Uint8Array(new Float32Array([NaN, 0]).buffer)))),
    args: (dir, out) => auditArgs(dir, out, { model: join(dir, "net.onnx") }),
    names: /bn1/,
  },
  {
    name: "ONNX external data that is a directory",
    command: "audit",
    make: async (dir) => {
      await onnxCase(dir, onnxWith("c.w", external("weights.bin")));
      await Deno.mkdir(join(dir, "weights.bin"));
    },
    args: (dir, out) => auditArgs(dir, out, { model: join(dir, "net.onnx") }),
    names: /weights\.bin/,
  },
  {
    name: "ONNX external data that is a FIFO",
    command: "audit",
    make: async (dir) => {
      await onnxCase(dir, onnxWith("c.w", external("weights.fifo")));
      const made = await new Deno.Command("mkfifo", { args: [join(dir, "weights.fifo")] }).output();
      assert.ok(made.success, "mkfifo");
    },
    args: (dir, out) => auditArgs(dir, out, { model: join(dir, "net.onnx") }),
    names: /weights\.fifo/,
  },
  {
    name: "predict on an all-NaN npy input",
    command: "predict",
    make: async (dir) => {
      await baseline(dir);
      await Deno.writeFile(
        join(dir, "nan.npy"),
        writeNpy({ shape: [2, 1, 8, 8], data: new Float32Array(128).fill(NaN) }),
      );
    },
    args: (dir, out) => ["--model", join(dir, "model"), "--input", join(dir, "nan.npy"), "--out", join(out, "r.json")],
    names: /nan\.npy/,
  },
  {
    name: "predict on a truncated npy input",
    command: "predict",
    make: async (dir) => {
      await baseline(dir);
      const bytes = writeNpy({ shape: [2, 1, 8, 8], data: new Float32Array(128).fill(0.5) });
      await Deno.writeFile(join(dir, "short.npy"), bytes.subarray(0, bytes.length - 5));
    },
    args: (
      dir,
      out,
    ) => ["--model", join(dir, "model"), "--input", join(dir, "short.npy"), "--out", join(out, "r.json")],
    names: /short\.npy/,
  },
  {
    name: "predict --out naming a directory",
    command: "predict",
    make: async (dir) => {
      await baseline(dir);
      await Deno.writeFile(join(dir, "x.npy"), writeNpy({ shape: [1, 1, 8, 8], data: new Float32Array(64).fill(0.5) }));
    },
    // The out folder itself is the directory named, so nothing beside it may change.
    args: (dir, out) => ["--model", join(dir, "model"), "--input", join(dir, "x.npy"), "--out", out],
    names: /--out|out/,
  },
  {
    name: "weights.safetensors whose header is not JSON",
    command: "predict",
    make: async (dir) => {
      await baseline(dir);
      const bytes = validSafetensors();
      bytes[10] = 0x0a; // a line break where the header's JSON is
      await Deno.writeFile(join(dir, "model", "weights.safetensors"), bytes);
      await Deno.writeFile(join(dir, "x.npy"), writeNpy({ shape: [1, 1, 8, 8], data: new Float32Array(64) }));
    },
    args: (dir, out) => ["--model", join(dir, "model"), "--input", join(dir, "x.npy"), "--out", join(out, "r.json")],
    names: /weights\.safetensors/,
  },
];

/** How long one command may take before it counts as a hang (an audit of 16 images takes about a second). */
const HANG_MS = 30_000;

/** Runs a case in its own folder and returns what broke the contract ("" when nothing did). */
async function runCase(root: string, c: CorpusCase, index: number): Promise<string> {
  const dir = join(root, `case-${index}`);
  const out = join(dir, "out");
  await Deno.mkdir(dir);
  await c.make(dir);
  if (c.command === "predict") await Deno.mkdir(out);
  const before = await snapshot(root, [out]);
  let result;
  try {
    result = await runCli(c.command, c.args(dir, out), { signal: AbortSignal.timeout(HANG_MS) });
  } catch (e) {
    if (e instanceof DOMException && e.name === "TimeoutError") return `hung for over ${HANG_MS / 1000} s`;
    throw e;
  }
  const lines = errorLines(result);
  const problems: string[] = [];
  if (result.code !== 2) problems.push(`exit ${result.code}`);
  if (lines.length !== 1) problems.push(`${lines.length} stderr lines`);
  if (lines.some((line) => /^\s+at /.test(line))) problems.push("a stack trace");
  if (lines.length > 0 && !c.names.test(lines[0])) problems.push(`the line does not name ${c.names}`);
  if (lines.some((line) => line.includes("root:"))) problems.push("the line echoes /etc/passwd");
  const after = await snapshot(root, [out]);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p));
  if (changed.length > 0) problems.push(`changed outside the out folder: ${changed.join(", ")}`);
  return problems.length === 0 ? "" : `${problems.join("; ")}: ${JSON.stringify(lines.slice(0, 3)).slice(0, 400)}`;
}

Deno.test({
  name: "fuzz corpus through the CLI: exit 2, one line naming the file, no stack trace, nothing changed outside --out",
  ...gpuTest,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "fuzz-cli-" });
    try {
      const failures: string[] = [];
      for (const [i, c] of CORPUS.entries()) {
        await t.step(c.name, async () => {
          const problem = await runCase(root, c, i);
          if (problem) failures.push(`${c.name}: ${problem}`);
          assert.equal(problem, "", `${c.command}: ${c.name}`);
        });
      }
      assert.deepEqual(failures, []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "fuzz corpus through the CLI: a truncated chunk file on --resume",
  ...gpuTest,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "fuzz-cli-resume-" });
    try {
      const dir = join(root, "case");
      await Deno.mkdir(dir);
      await baseline(dir);
      const out = join(dir, "out");
      const args = auditArgs(dir, out, { extra: ["--batch-size", "1"] });
      // Killed once the first chunk is on disk, the audit leaves a partial run to resume.
      const child = spawnCli("audit", args);
      const chunk = join(out, "partial", "batch-000000.json");
      await waitForFile(chunk, "the audit's first chunk");
      child.kill("SIGKILL");
      await child.status;
      const bytes = await Deno.readFile(chunk);
      await Deno.writeFile(chunk, bytes.subarray(0, bytes.length >> 1));
      const before = await snapshot(root, [out]);
      const result = await runCli("audit", [...args, "--resume"], { signal: AbortSignal.timeout(HANG_MS) });
      const lines = errorLines(result).filter((line) => !/took over the stale lock/.test(line));
      assert.equal(result.code, 2, result.stderr);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], /batch-000000\.json/);
      assert.deepEqual(await snapshot(root, [out]), before);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
