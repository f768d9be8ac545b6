import assert from "node:assert/strict";
import { z } from "zod";
import { numberFlag, parseFlags, usage } from "../cli/flags.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { runCli } from "./cli_helpers.ts";

const demo = {
  name: "demo",
  summary: "Counts sheep.",
  flags: z.object({
    in: z.string({ error: "is required" }).min(1).meta({ value: "FILE" }),
    "up-to": numberFlag(z.number().int().min(1).default(3)),
    "batch-size": numberFlag(z.number().int().min(1).optional()),
    sample: numberFlag(z.union([z.literal("all"), z.number().int().min(1)]).default(8)),
    mode: z.enum(["fast", "slow"]).default("fast"),
    note: z.string().optional(),
    "dry-run": z.boolean().default(false),
  }),
};

/** The InputError message parseFlags throws for `args`. */
function problem(args: string[]): string {
  try {
    parseFlags(demo, args);
  } catch (e) {
    assert.ok(e instanceof InputError, `${args.join(" ")}: ${e}`);
    return e.message;
  }
  throw new Error(`${args.join(" ")} parsed`);
}

Deno.test("parseFlags reads values, numbers and booleans under camelCase keys, defaults the rest", () => {
  const parsed = parseFlags(demo, ["--in", "a.txt", "--up-to", "12", "--batch-size=5", "--dry-run", "--mode", "slow"]);
  assert.deepEqual(parsed, {
    in: "a.txt",
    upTo: 12,
    batchSize: 5,
    sample: 8,
    mode: "slow",
    dryRun: true,
  });
  const defaults = parseFlags(demo, ["--in", "b"])!;
  assert.equal(defaults.upTo, 3);
  assert.equal(defaults.batchSize, undefined);
  assert.equal(defaults.mode, "fast");
  assert.equal(defaults.dryRun, false);
  // A word the schema takes as it is stays text; other text is read as a number.
  assert.equal(parseFlags(demo, ["--in", "b", "--sample", "all"])!.sample, "all");
  assert.equal(parseFlags(demo, ["--in", "b", "--sample", "40"])!.sample, 40);
  // A boolean flag takes no value: the word after it is a positional argument, which no command takes.
  assert.match(problem(["--in", "b", "--dry-run", "yes"]), /^Unexpected argument 'yes'/);
});

Deno.test("parseFlags throws one InputError naming the flag for the first problem", () => {
  assert.equal(problem([]), "--in: is required");
  assert.equal(problem(["--in", "b", "--up-to", "0"]), "--up-to: Too small: expected number to be >=1");
  assert.equal(problem(["--in", "b", "--up-to", "many"]), "--up-to: Invalid input: expected number, received NaN");
  assert.match(problem(["--in", "b", "--mode", "medium"]), /^--mode: /);
  assert.match(problem(["--in", "b", "--sample", "some"]), /^--sample: /);
  assert.match(problem(["--in", "b", "--bogus"]), /^Unknown option '--bogus'/);
  assert.match(problem(["--in"]), /^Option '--in <value>' argument missing/);
});

Deno.test("usage names required flags bare, the others in brackets, values by metadata or type", () => {
  assert.equal(
    usage(demo),
    "usage: deno task demo --in FILE [--up-to N] [--batch-size N] [--sample all|N] [--mode fast|slow] [--note V] " +
      "[--dry-run] [--help]\nCounts sheep.",
  );
});

Deno.test("parseFlags prints the usage for --help and returns null", () => {
  const printed: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => printed.push(...args);
  try {
    assert.equal(parseFlags(demo, ["--help"]), null);
  } finally {
    console.log = log;
  }
  assert.deepEqual(printed, [usage(demo)]);
});

Deno.test("audit --help names every flag of the README's audit table and exits 0", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const table = readme.slice(readme.indexOf("| flag "), readme.indexOf("Finished batches are written"));
  const documented = new Set(table.match(/--[a-z][a-z-]*/g));
  assert.ok(documented.size >= 20, `${documented.size} flags found in the README's table`);
  const result = await runCli("audit", ["--help"]);
  assert.equal(result.code, 0, result.stderr);
  const offered = new Set(result.stdout.match(/--[a-z][a-z-]*/g));
  for (const flag of documented) assert.ok(offered.has(flag), `${flag} is documented but not in the usage`);
});
