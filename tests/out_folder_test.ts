import assert from "node:assert/strict";
import { join } from "node:path";
import { writeAtomic } from "../pipeline/io/files.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import {
  assertOutFolderUsable,
  type ClaimOptions,
  claimOutFolder,
  LOCK_FILE,
  MARKER_FILE,
  removeOwnFiles,
} from "../pipeline/io/out_folder.ts";
import { startReviewServer } from "../pipeline/review/server.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { sampleReportFolder } from "./report_fixture.ts";

const CLAIM: ClaimOptions = {
  flag: "--out",
  command: "audit",
  force: false,
  create: true,
  marker: true,
  tempFolders: ["", "partial"],
};

/** The reproduction's folder: a user's notes, site and picture, where an audit's files would go. */
async function userFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "out-folder-" });
  await Deno.mkdir(join(dir, "partial"));
  await Deno.mkdir(join(dir, "assets"));
  await Deno.writeTextFile(join(dir, "partial", "thesis.txt"), "notes\n");
  await Deno.writeTextFile(join(dir, "index.html"), "<h1>site</h1>\n");
  await Deno.writeTextFile(join(dir, "assets", "clean-0.png"), "keep\n");
  return dir;
}

const read = (path: string) => Deno.readTextFile(path);
const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

/** A pid that was just alive and is not any more. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

const AUDIT = ["--limit", "32", "--attack-sample", "8", "--skip-min-epsilon", "--sanity-images", "0"];
const auditArgs = (out: string) => [...AUDIT, "--prototypes", "0", "--quiet", "--out", out];

Deno.test("a non-empty folder without the marker is refused, and nothing in it changes", async () => {
  const dir = await userFolder();
  await assert.rejects(
    () => assertOutFolderUsable(dir, { flag: "--out", force: false }),
    (e) => e instanceof InputError && e.message.includes(`--out ${dir}:`) && e.message.includes("--force"),
  );
  await assert.rejects(() => claimOutFolder(dir, CLAIM), InputError);
  assert.equal(await read(join(dir, "partial", "thesis.txt")), "notes\n");
  assert.ok(!(await exists(join(dir, MARKER_FILE))), "no marker written");
  assert.ok(!(await exists(join(dir, LOCK_FILE))), "the refused claim left no lock");
});

Deno.test("a new folder is created, marked and locked with this pid and host; release removes the lock", async () => {
  const dir = join(await Deno.makeTempDir(), "new", "report");
  const folder = await claimOutFolder(dir, CLAIM);
  assert.ok(folder !== null);
  const lock = JSON.parse(await read(join(dir, LOCK_FILE)));
  assert.equal(lock.pid, Deno.pid);
  assert.equal(lock.host, Deno.hostname());
  assert.equal(JSON.parse(await read(join(dir, MARKER_FILE))).command, "audit");
  folder.release();
  assert.ok(!(await exists(join(dir, LOCK_FILE))));
  // Marked: the folder is the tool's now, so a later claim needs no --force even with files in it.
  await Deno.writeTextFile(join(dir, "report.json"), "{}");
  (await claimOutFolder(dir, CLAIM))!.release();
  assert.equal(await claimOutFolder(join(dir, "missing"), { ...CLAIM, create: false }), null);
});

Deno.test("a second claim of a held folder fails naming the holder's pid and host", async () => {
  const dir = await Deno.makeTempDir();
  using _held = await claimOutFolder(dir, CLAIM);
  const holder = new RegExp(`--out ${dir}: in use by pid ${Deno.pid} on host ${Deno.hostname()} \\(audit`);
  await assert.rejects(() => claimOutFolder(dir, { ...CLAIM, force: true }), holder);
  await assert.rejects(() => assertOutFolderUsable(dir, { flag: "--out", force: true }), holder);
  // The review takes the same lock.
  await assert.rejects(() => claimOutFolder(dir, { ...CLAIM, flag: "--report", marker: false }), /in use by pid/);
});

Deno.test("a stale lock (this host, process gone) is taken over and named; another host's is not", async () => {
  const dir = await Deno.makeTempDir();
  const pid = await deadPid();
  const since = "2020-01-01T00:00:00.000Z";
  const stale = { pid, host: Deno.hostname(), command: "audit", since };
  await Deno.writeTextFile(join(dir, LOCK_FILE), JSON.stringify(stale));
  await assertOutFolderUsable(dir, { flag: "--out", force: false });
  const folder = (await claimOutFolder(dir, CLAIM))!;
  assert.match(folder.tookOver ?? "", new RegExp(`stale lock of pid ${pid} on host ${Deno.hostname()} .*not running`));
  assert.equal(JSON.parse(await read(join(dir, LOCK_FILE))).pid, Deno.pid);
  folder.release();

  await Deno.writeTextFile(join(dir, LOCK_FILE), JSON.stringify({ ...stale, host: "elsewhere.example" }));
  await assert.rejects(() => claimOutFolder(dir, CLAIM), /in use by pid \d+ on host elsewhere\.example/);
});

Deno.test("a claim sweeps writeAtomic's leftover temp files in its folders, and nothing else", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(join(dir, "partial"));
  await Deno.mkdir(join(dir, "other"));
  await Deno.writeTextFile(join(dir, MARKER_FILE), "{}");
  const temps = ["report.json.4242.0.tmp", "partial/batch-000003.json.17.5.tmp"];
  const kept = ["notes.tmp", "partial/draft.1.tmp", "other/x.png.1.2.tmp", "partial/batch-000000.json"];
  for (const name of [...temps, ...kept]) await Deno.writeTextFile(join(dir, name), "x");
  (await claimOutFolder(dir, { ...CLAIM, tempFolders: ["", "partial"] }))!.release();
  for (const name of temps) assert.ok(!(await exists(join(dir, name))), `${name} swept`);
  for (const name of kept) assert.ok(await exists(join(dir, name)), `${name} kept`);
});

Deno.test("removeOwnFiles removes only the files it is told are its own, and the folder only once empty", async () => {
  const dir = await Deno.makeTempDir();
  const own = (name: string) => name.startsWith("batch-");
  await Deno.writeTextFile(join(dir, "batch-1"), "");
  await Deno.writeTextFile(join(dir, "thesis.txt"), "notes");
  await removeOwnFiles(dir, own);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["thesis.txt"]);
  await Deno.remove(join(dir, "thesis.txt"));
  await Deno.writeTextFile(join(dir, "batch-2"), "");
  await removeOwnFiles(dir, own);
  assert.ok(!(await exists(dir)), "an emptied folder is removed");
  await removeOwnFiles(dir, own); // missing: nothing to do
});

Deno.test("a failed writeAtomic leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(join(dir, "report.json")); // renaming a file over a folder fails
  await assert.rejects(() => writeAtomic(join(dir, "report.json"), new Uint8Array([1])));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["report.json"]);
});

Deno.test({
  name: "audit CLI into a user's folder: exit 2 with one line, and thesis.txt, index.html and clean-0.png survive",
  ...gpuTest,
  async fn() {
    const dir = await userFolder();
    const result = await runCli("audit", auditArgs(dir));
    assert.equal(result.code, 2, result.stderr);
    assert.deepEqual(errorLines(result), [
      `audit: --out ${dir}: the folder is not empty and this tool did not create it (no .convnet-audit); ` +
      "choose another folder, or pass --force to write into it",
    ]);
    assert.equal(await read(join(dir, "partial", "thesis.txt")), "notes\n");
    assert.equal(await read(join(dir, "index.html")), "<h1>site</h1>\n");
    assert.equal(await read(join(dir, "assets", "clean-0.png")), "keep\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["assets", "index.html", "partial"]);
  },
});

Deno.test({
  name: "audit CLI --force into a user's folder replaces its own files only, keeps partial/thesis.txt, drops the lock",
  ...gpuTest,
  async fn() {
    const dir = await userFolder();
    await Deno.writeTextFile(join(dir, "assets", "mine.png"), "mine\n");
    const result = await runCli("audit", [...auditArgs(dir), "--force"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await read(join(dir, "partial", "thesis.txt")), "notes\n");
    assert.deepEqual([...Deno.readDirSync(join(dir, "partial"))].map((e) => e.name), ["thesis.txt"]);
    assert.equal(await read(join(dir, "assets", "mine.png")), "mine\n");
    assert.match(await read(join(dir, "index.html")), /^<!doctype html>/);
    const report = JSON.parse(await read(join(dir, "report.json")));
    assert.equal(report.data.count, 32);
    assert.equal(JSON.parse(await read(join(dir, MARKER_FILE))).tool, "convnet-audit");
    assert.ok(!(await exists(join(dir, LOCK_FILE))), "lock released after success");
  },
});

Deno.test({
  name: "audit CLI: of two audits started at once on one folder, one proceeds and the other names it",
  ...gpuTest,
  async fn() {
    const out = join(await Deno.makeTempDir(), "report");
    const spawn = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "cli/audit.ts", ...auditArgs(out)],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "null",
        stderr: "piped",
      }).spawn();
    const children = [spawn(), spawn()];
    const outputs = await Promise.all(children.map((c) => c.output()));
    const codes = outputs.map((o) => o.code);
    assert.deepEqual([...codes].sort(), [0, 2], `exit codes ${codes}`);
    const loser = codes.indexOf(2);
    const winner = children[1 - loser];
    const lines = new TextDecoder().decode(outputs[loser].stderr).split("\n").filter((l) => l.trim());
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], new RegExp(`--out ${out}: in use by pid ${winner.pid} on host ${Deno.hostname()} `));
    assert.equal(JSON.parse(await read(join(out, "report.json"))).data.count, 32);
    assert.ok(!(await exists(join(out, LOCK_FILE))));
  },
});

Deno.test({
  name: "audit CLI: an error after the claim releases the lock; a stale lock is named on stderr and taken over",
  ...gpuTest,
  async fn() {
    const out = await Deno.makeTempDir();
    await Deno.writeTextFile(join(out, MARKER_FILE), "{}");
    await Deno.mkdir(join(out, "partial"));
    await Deno.writeTextFile(join(out, "partial", "run.json"), "{}\n");
    const pid = await deadPid();
    await Deno.writeTextFile(
      join(out, LOCK_FILE),
      JSON.stringify({ pid, host: Deno.hostname(), command: "audit", since: "2020-01-01T00:00:00.000Z" }),
    );
    const result = await runCli("audit", auditArgs(out));
    assert.equal(result.code, 2, result.stderr);
    const lines = errorLines(result);
    assert.match(lines[0], new RegExp(`^audit: --out ${out}: took over the stale lock of pid ${pid} on host `));
    assert.match(lines[1], /holds an unfinished audit: pass --resume to continue it, or --force/);
    assert.ok(!(await exists(join(out, LOCK_FILE))), "lock released after the error");
  },
});

Deno.test("a live review server holds its report folder against an audit, and an audit holds it against a review", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  try {
    await assert.rejects(
      () => claimOutFolder(dir, { ...CLAIM, force: true }),
      new RegExp(`in use by pid ${Deno.pid} on host .* \\(review, since `),
    );
  } finally {
    await server.shutdown();
  }
  assert.ok(!(await exists(join(dir, LOCK_FILE))), "the review's lock is gone after shutdown");
  using _audit = await claimOutFolder(dir, { ...CLAIM, force: true });
  await assert.rejects(
    () => startReviewServer({ dir, port: 0 }),
    /--report .*: in use by pid \d+ on host .* \(audit, /,
  );
});
