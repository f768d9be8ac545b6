/**
 * The layers of the tree, as the README's Layout section draws them: a module may import from its
 * own folder or from a folder of a lower layer, never from a sibling or from above.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** Each folder's layer, lowest first; folders of one layer are siblings and may not import each other. */
const LAYERS: string[][] = [
  ["kernels"],
  ["pipeline/io"],
  ["pipeline/formats"],
  ["pipeline/schema"],
  ["pipeline/data", "pipeline/model"],
  ["pipeline/explain", "pipeline/report", "pipeline/train"],
  ["pipeline/bias"],
  ["pipeline/audit", "pipeline/review"],
  ["cli"],
];

function layerOf(file: string): { folder: string; rank: number } {
  const rank = LAYERS.findIndex((folders) => folders.some((f) => file.startsWith(`${f}/`)));
  if (rank < 0) throw new Error(`${file} is in no layer`);
  return { folder: LAYERS[rank].find((f) => file.startsWith(`${f}/`))!, rank };
}

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** The repository-relative targets of a file's relative imports (JSDoc examples left out). */
function importsOf(file: string, text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "");
  return [...code.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)]
    .map((m) => normalize(join(dirname(file), m[1])));
}

Deno.test("layers: every import points to the module's own folder or to a lower layer", async () => {
  const files = (await Promise.all(["kernels", "pipeline", "cli"].map(sourceFiles))).flat();
  assert.ok(files.length > 100, `found only ${files.length} source files`);
  const wrong: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    for (const target of importsOf(file, await Deno.readTextFile(join(ROOT, file)))) {
      if (relative(ROOT, join(ROOT, target)).startsWith("..")) {
        wrong.push(`${file} -> ${target} (outside the tree)`);
        continue;
      }
      const to = layerOf(target);
      if (to.folder !== from.folder && to.rank >= from.rank) wrong.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("layers: pipeline/ holds only layer folders, no loose modules", async () => {
  const loose: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "pipeline"))) {
    if (!entry.isDirectory) loose.push(entry.name);
    else if (!LAYERS.flat().includes(`pipeline/${entry.name}`)) loose.push(`${entry.name}/`);
  }
  assert.deepEqual(loose, []);
});
