/**
 * Paths a model's files name stay inside their folder, errors never quote a file's text, and a
 * groups CSV holds printable UTF-8 names: through the CLI, exit 2 with one line naming the
 * manifest's or sidecar's field, or the file and line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { parseGroupsCsv, readGroupsFile } from "../pipeline/bias/groups.ts";
import { insideFolder, regularFileInside } from "../pipeline/io/contained_path.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { jsonErrorPlace, parseJson } from "../pipeline/io/json_text.ts";
import { bars, writeIdx } from "./audit_fixture.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { lenetFixture } from "./onnx_fixtures.ts";

/** What a file outside the model folder holds; no error may show it. */
const SECRET = "root:x:0:0:SECRET-7f3a";

/** A temporary tree: `secret.txt` and `secret/h.json` beside a copy of the digits model, and a 28x28 IDX set. */
const setup = (async () => {
  const root = await Deno.makeTempDir({ prefix: "paths-" });
  const model = join(root, "model");
  await Deno.mkdir(model);
  for (const file of ["graph.json", "weights.safetensors", "manifest.json"]) {
    await Deno.copyFile(join("fixtures/models/digits", file), join(model, file));
  }
  const manifest = JSON.parse(await Deno.readTextFile(join(model, "manifest.json")));
  await Deno.writeTextFile(join(root, "secret.txt"), `${SECRET}\n`);
  await Deno.mkdir(join(root, "secret"));
  await Deno.writeTextFile(join(root, "secret", "h.json"), `${SECRET}\n`);
  const data = await writeIdx(root, "test", bars(16, 10, 28, 1));
  return { root, model, manifest, data };
})();

let outs = 0;

/** Runs `audit` on `model` and returns its exit code and stderr lines. */
async function audit(model: string, extra: string[] = []) {
  const { root, data } = await setup;
  const out = join(root, `out-${outs++}`);
  const result = await runCli("audit", ["--model", model, "--data", data, "--out", out, "--limit", "8", ...extra]);
  return { code: result.code, lines: errorLines(result), stderr: result.stderr };
}

/** Asserts exit 2 and exactly `line` on stderr, without the secret or a stack trace. */
function assertRefused(result: { code: number; lines: string[]; stderr: string }, line: string) {
  assert.equal(result.code, 2, result.stderr);
  assert.deepEqual(result.lines, [line]);
  assert.ok(!result.stderr.includes("SECRET"), "no content of the file is echoed");
}

Deno.test("audit CLI: a manifest's hierarchy that leads out of the model folder is refused, naming the manifest and field", async () => {
  const { root, model, manifest } = await setup;
  const withHierarchy = (hierarchy: string) =>
    Deno.writeTextFile(join(model, "manifest.json"), JSON.stringify({ ...manifest, hierarchy }));
  await Deno.symlink(join(root, "secret.txt"), join(model, "link.json"));
  await Deno.symlink(join(root, "secret"), join(model, "linked-folder"));
  const field = `audit: ${join(model, "manifest.json")}: hierarchy`;
  try {
    for (
      const [hierarchy, how] of [
        ["../secret.txt", ""],
        ["../../../../../../../../" + join(root, "secret.txt"), ""],
        [join(root, "secret.txt"), ""], // absolute
        ["sub/../../secret.txt", ""],
        ["link.json", " through a symbolic link"],
        ["linked-folder/h.json", " through a symbolic link"],
      ]
    ) {
      await withHierarchy(hierarchy);
      assertRefused(
        await audit(model),
        `${field} ${JSON.stringify(hierarchy)} points outside the folder ${model}${how}; refused`,
      );
    }
    await withHierarchy("none.json");
    assertRefused(await audit(model), `${field} "none.json": no such file in ${model}`);
    await withHierarchy(".");
    assertRefused(await audit(model), `${field} "." names the folder ${model} itself, not a file in it`);
    // Inside the folder, the file is read: bad JSON is named by its place, not quoted (the 'S' is column 10).
    await Deno.writeTextFile(join(model, "bad.json"), '{"name": SECRET}');
    await withHierarchy("bad.json");
    assertRefused(await audit(model), `audit: ${join(model, "bad.json")}: not valid JSON (line 1, column 10)`);
    // A well-formed hierarchy inside the folder (here one that misses the classes) is read and judged.
    await Deno.writeTextFile(join(model, "h.json"), JSON.stringify({ name: "all", children: [{ name: "x" }] }));
    await withHierarchy("h.json");
    const read = await audit(model);
    assert.equal(read.code, 2, read.stderr);
    assert.match(read.lines[0], /h\.json: class\(es\) "0", "1", .* are not leaves of the hierarchy$/);
  } finally {
    await Deno.writeTextFile(join(model, "manifest.json"), JSON.stringify(manifest));
  }
});

Deno.test("audit CLI: a sidecar's hierarchy is relative to the sidecar's folder and may not leave it", async () => {
  const { root } = await setup;
  const fixture = lenetFixture();
  const dir = await Deno.makeTempDir({ dir: root, prefix: "onnx-" });
  const path = join(dir, "lenet.onnx");
  await Deno.writeFile(path, fixture.bytes);
  await Deno.writeTextFile(`${path}.json`, JSON.stringify({ ...fixture.sidecar, hierarchy: "../secret.txt" }));
  assertRefused(
    await audit(path),
    `audit: ${path}.json: hierarchy "../secret.txt" points outside the folder ${dir}; refused`,
  );
  // A sidecar elsewhere names a file beside itself, not beside the model.
  const labels = join(dir, "labels");
  await Deno.mkdir(labels);
  await Deno.writeTextFile(join(labels, "net.json"), JSON.stringify({ ...fixture.sidecar, hierarchy: "h.json" }));
  await Deno.writeTextFile(join(labels, "h.json"), JSON.stringify({ name: "all", children: [{ name: "x" }] }));
  const read = await audit(path, ["--sidecar", join(labels, "net.json")]);
  assert.equal(read.code, 2, read.stderr);
  assert.match(
    read.lines[0],
    new RegExp(`^audit: ${join(labels, "h.json")}: class\\(es\\) "class 0", .* are not leaves`),
  );
});

Deno.test("audit CLI: a group name with a NUL, an escape or bytes that are not UTF-8 is refused naming file and line", async () => {
  const { root, model, manifest, data } = await setup;
  assert.equal(manifest.hierarchy, undefined, "the digits model names no hierarchy");
  const encode = (text: string) => new TextEncoder().encode(text);
  const cases: [string, Uint8Array, string][] = [
    ["nul.csv", encode("index,group\n0,a\n1,b\u0000c\n"), ":3: field 2 holds the control character U+0000"],
    ["esc.csv", encode("index,group\n0,\u001b[31mred\n"), ":2: field 2 holds the control character U+001B"],
    ["c1.csv", encode("index,group\r\n0,a\r\n1,a\r\n2,\u009bx\r\n"), ":4: field 2 holds the control character U+009B"],
    ["index.csv", encode("index,group\n0\u0000,a\n"), ":2: field 1 holds the control character U+0000"],
    ["latin1.csv", new Uint8Array([...encode("index,group\n0,a\n1,caf"), 0xe9, 0x0a]), ":3: not valid UTF-8 text"],
    ["cut.csv", new Uint8Array([...encode("index,group\n0,\u00e9t\u00e9\n"), 0xe2, 0x82]), ":3: not valid UTF-8 text"],
  ];
  for (const [name, bytes, where] of cases) {
    const path = join(root, name);
    await Deno.writeFile(path, bytes);
    const result = await runCli("audit", [
      "--model",
      model,
      "--data",
      data,
      "--out",
      join(root, `out-${outs++}`),
      "--groups",
      path,
    ]);
    assert.equal(result.code, 2, result.stderr);
    const tail = where.includes("control") ? "; names must be printable" : "";
    assert.deepEqual(errorLines(result), [`audit: ${path}${where}${tail}`], name);
  }
});

Deno.test("groups CSV: printable names in any script are kept; control characters are refused wherever they are", async () => {
  const path = join((await setup).root, "names.csv");
  await Deno.writeTextFile(path, "\uFEFFindex,group\n0,caf\u00e9\n1,\u65e5\u672c\n2,tab\there\n");
  await assert.rejects(() => readGroupsFile(path), {
    message: `${path}:4: field 2 holds the control character U+0009; names must be printable`,
  });
  await Deno.writeTextFile(path, "\uFEFFindex,group\n0,caf\u00e9\n1,\u65e5\u672c\n2, spaced \n");
  assert.deepEqual(await readGroupsFile(path), new Map([[0, "caf\u00e9"], [1, "\u65e5\u672c"], [2, "spaced"]]));
  // Every C0 and C1 control and DEL inside a name (a CR or LF ends the row instead).
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0x9f }).filter((c) => (c < 0x20 || c >= 0x7f) && c !== 0x0a && c !== 0x0d),
      fc.string({ unit: fc.constantFrom("a", "b", "-", " ") }),
      (code, around) => {
        const text = `index,group\n0,x\n1,x${around}${String.fromCharCode(code)}${around}y\n`;
        const hex = code.toString(16).toUpperCase().padStart(4, "0");
        assert.throws(() => parseGroupsCsv(text, "g.csv"), {
          message: `g.csv:3: field 2 holds the control character U+${hex}; names must be printable`,
        });
      },
    ),
  );
});

/** Python's `json` module's "line L, column C" for each text ("valid" when it parses). */
async function pythonJsonPlaces(texts: string[]): Promise<string[]> {
  const script = `
import json, sys
for text in json.load(sys.stdin):
    try:
        json.loads(text)
        print("valid")
    except json.JSONDecodeError as e:
        print(f"line {e.lineno}, column {e.colno}")
`;
  const child = new Deno.Command("/usr/bin/python3", { args: ["-c", script], stdin: "piped", stdout: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(texts)));
  await writer.close();
  const output = await child.output();
  assert.equal(output.code, 0);
  return new TextDecoder().decode(output.stdout).trimEnd().split("\n");
}

Deno.test("JSON errors: the place agrees with Python's json module, and the message never quotes the text", async () => {
  const corpus = [
    `${SECRET}\n`,
    '{"a": 1,}',
    '{"name": tru}',
    '{"a"',
    "",
    "   ",
    "[1, 2 3]",
    '{"a":"\u0001"}',
    '{\n  "x": secret-value\n}',
    "12 34",
    '"abc',
    '{"a',
    '"\\x"',
    '"\\u12G4"',
    '"ab\\',
    "-",
    "01",
    "1.",
    "1e+",
    "[1,]",
    "{,}",
    '{"a":}',
    "[1}",
    "\ufeff{}",
    '{"a":1 "b":2}',
    "[] []",
  ];
  // Valid JSON cut short, or with one character dropped or put in: the errors a hand or a crash makes.
  const mutated = fc.sample(
    fc.tuple(
      fc.json({ maxDepth: 3, stringUnit: "grapheme-ascii" }),
      fc.nat(),
      fc.constantFrom("cut", "drop", "insert"),
      fc.constantFrom(...'{}[],:"\\ 0-.eE\n\u0001tx'),
    ).map(([text, at, how, c]) => {
      const i = at % (text.length + 1);
      return how === "cut"
        ? text.slice(0, i)
        : how === "drop"
        ? text.slice(0, i) + text.slice(i + 1)
        : text.slice(0, i) + c + text.slice(i);
    }),
    { numRuns: 400, seed: 18 },
  );
  const texts = [...corpus, ...mutated].filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  });
  assert.ok(texts.length > 200, `${texts.length} invalid texts`);
  const python = await pythonJsonPlaces(texts);
  texts.forEach((text, i) => assert.equal(jsonErrorPlace(text), python[i], JSON.stringify(text)));
  for (const text of texts) {
    assert.throws(() => parseJson(text, "x.json"), (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /^x\.json: not valid JSON \(line \d+, column \d+\)$/);
      return true;
    });
  }
  // Nesting without end is no stack overflow: the error is where the text ends (by hand: column 100,001).
  assert.equal(jsonErrorPlace("[".repeat(100_000)), "line 1, column 100001");
  assert.equal(jsonErrorPlace('{"a":'.repeat(50_000) + "1" + "}".repeat(49_999) + "]"), "line 1, column 300001");
});

Deno.test("insideFolder and regularFileInside: a folder's own files pass; links out, FIFOs and folders do not", async () => {
  const { root } = await setup;
  const dir = await Deno.makeTempDir({ dir: root, prefix: "contained-" });
  await Deno.mkdir(join(dir, "sub"));
  await Deno.writeTextFile(join(dir, "sub", "a.json"), "{}");
  await Deno.symlink(join(dir, "sub", "a.json"), join(dir, "inner-link.json")); // stays inside
  await Deno.symlink(join(root, "secret.txt"), join(dir, "out-link.json"));
  await Deno.symlink(join(root, "nowhere"), join(dir, "dangling.json"));
  const fifo = new Deno.Command("mkfifo", { args: [join(dir, "pipe.json")] });
  assert.equal((await fifo.output()).code, 0);
  const real = await Deno.realPath(join(dir, "sub", "a.json"));

  assert.equal(await insideFolder(dir, "sub/a.json", "m.json: f"), real);
  assert.equal(await insideFolder(dir, "sub/../sub/./a.json", "m.json: f"), real);
  assert.equal(await insideFolder(dir, "inner-link.json", "m.json: f"), real);
  assert.equal(await insideFolder(join(dir, "sub"), "a.json", "m.json: f"), real);
  await assert.rejects(() => insideFolder(dir, "out-link.json", "m.json: f"), {
    message: `m.json: f "out-link.json" points outside the folder ${dir} through a symbolic link; refused`,
  });
  await assert.rejects(() => insideFolder(dir, "dangling.json", "m.json: f"), {
    message: `m.json: f "dangling.json": no such file in ${dir}`,
  });
  // A name that only starts with two dots is a file of the folder, not its parent.
  await Deno.writeTextFile(join(dir, "..a.json"), "{}");
  assert.equal(await insideFolder(dir, "..a.json", "m.json: f"), await Deno.realPath(join(dir, "..a.json")));
  // A control character in the path is shown escaped, not sent to the terminal.
  await assert.rejects(() => insideFolder(dir, "../\u001b[2J", "m.json: f"), {
    message: `m.json: f "../\\u001b[2J" points outside the folder ${dir}; refused`,
  });

  assert.equal(await regularFileInside(dir, "sub/a.json"), real);
  for (
    const path of [
      "inner-link.json",
      "out-link.json",
      "dangling.json",
      "pipe.json",
      "sub",
      "missing.png",
      "../secret.txt",
    ]
  ) {
    assert.equal(await regularFileInside(dir, path), null, path);
  }
  // A folder on the way that is a link out: its files are not the folder's.
  await Deno.symlink(join(root, "secret"), join(dir, "assets"));
  assert.equal(await regularFileInside(dir, "assets/h.json"), null);
});
