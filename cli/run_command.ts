/**
 * The exit-code contract shared by every command: 0 success; 2 bad usage or bad input, with one
 * line naming what and where; 1 anything else. Stack traces only with --verbose.
 */
import { z } from "zod";
import { NoAdapterError } from "../kernels/errors.ts";
import { InputError } from "../pipeline/io/input_error.ts";

/** Validates parsed flags with a zod schema; the first problem becomes an InputError. */
export function validateFlags<T extends z.ZodType>(schema: T, values: unknown): z.infer<T> {
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = issue.path.length > 0 ? `--${issue.path.join(".")}` : "arguments";
    throw new InputError(`${flag}: ${issue.message}`);
  }
  return parsed.data;
}

/** Runs a command's main function and exits with the contract's code. */
export async function runCommand(name: string, main: (args: string[]) => Promise<void>): Promise<never> {
  const verbose = Deno.args.includes("--verbose");
  try {
    await main(Deno.args);
    Deno.exit(0);
  } catch (e) {
    const usage = e instanceof InputError || e instanceof NoAdapterError ||
      (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"));
    console.error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (verbose && e instanceof Error && e.stack) console.error(e.stack);
    Deno.exit(usage ? 2 : 1);
  }
}
