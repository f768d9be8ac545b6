import assert from "node:assert/strict";
import { join } from "node:path";
import { formatSummary } from "../pipeline/audit/summary.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { readReport, writeReport } from "../pipeline/report/report_file.ts";
import { sampleReportFolder } from "./report_fixture.ts";

/** The fixture's report.json with its adapter part edited as `edit` says. */
async function withStoredAdapter(dir: string, edit: (adapter: Record<string, unknown>) => void): Promise<void> {
  const path = join(dir, "report.json");
  const stored = JSON.parse(await Deno.readTextFile(path));
  edit(stored.adapter);
  await Deno.writeTextFile(path, JSON.stringify(stored));
}

Deno.test("report adapter: the terminal summary's second line names the adapter, the backend, how it was chosen and the driver", async () => {
  const { dir, report } = await sampleReportFolder({ explanations: false, bias: false });
  try {
    const lines = formatSummary(report).split("\n");
    assert.equal(lines[0], "audit of sample-convnet on sample-bars: 24 images");
    assert.equal(
      lines[1],
      "ran on llvmpipe (LLVM 15.0.6, 256 bits), fallback adapter, backend gl (measured fastest here), driver Mesa 22.3.6",
    );
    const chosen = {
      ...report,
      adapter: { ...report.adapter, backend: "vulkan", driver: "", backendChoice: "explicit" as const },
    };
    assert.equal(
      formatSummary(chosen).split("\n")[1],
      "ran on llvmpipe (LLVM 15.0.6, 256 bits), fallback adapter, backend vulkan (set by DENO_WEBGPU_BACKEND), driver unknown",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report adapter: a report.json written before backend, driver and backendChoice were recorded still reads, and is written back without them", async () => {
  const { dir } = await sampleReportFolder({ explanations: false, bias: false });
  try {
    await withStoredAdapter(dir, (adapter) => {
      delete adapter.backend;
      delete adapter.driver;
      delete adapter.backendChoice;
    });
    const older = await readReport(dir);
    assert.deepEqual(older.adapter, {
      description: "llvmpipe (LLVM 15.0.6, 256 bits)",
      vendor: "mesa",
      architecture: "",
      isFallbackAdapter: true,
    });
    assert.equal(
      formatSummary(older).split("\n")[1],
      "ran on llvmpipe (LLVM 15.0.6, 256 bits), fallback adapter, backend not recorded",
    );
    await writeReport(dir, older, { force: true });
    assert.deepEqual(Object.keys(JSON.parse(await Deno.readTextFile(join(dir, "report.json"))).adapter), [
      "description",
      "vendor",
      "architecture",
      "isFallbackAdapter",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report adapter: a backendChoice outside the five is not a report, and the error names the key", async () => {
  const { dir } = await sampleReportFolder({ explanations: false, bias: false });
  try {
    await withStoredAdapter(dir, (adapter) => adapter.backendChoice = "guessed");
    await assert.rejects(
      readReport(dir),
      (e) => e instanceof InputError && e.message.includes("adapter.backendChoice"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report.json: every array of numbers on one line; the file reads back as the report, strings as they were", async () => {
  const { dir, report } = await sampleReportFolder({ review: true });
  try {
    // Strings that look like arrays of numbers, pretty-printed or not, stay as they are.
    const tricky = ["[\n 1,\n 2\n]", "[1, 2]", "[ 3 ]"];
    const edited = { ...report, robustness: { ...report.robustness, warnings: tricky } };
    await writeReport(dir, edited, { force: true });
    const text = await Deno.readTextFile(join(dir, "report.json"));
    assert.deepEqual(JSON.parse(text), edited);
    assert.deepEqual((await readReport(dir)).robustness.warnings, tricky);
    // No line holds a lone number of an array: each array of numbers (a confusion row, a top-5) is one line.
    assert.doesNotMatch(text, /^\s*-?\d[\d.eE+-]*,?$/m);
    for (const row of report.accuracy.confusion) assert.ok(text.includes(`[${row.join(",")}]`), String(row));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
