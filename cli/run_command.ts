/**
 * The exit-code contract shared by every command: 0 success; 2 bad usage or bad input, with one
 * line naming what and where; 1 anything else. Stack traces only with --verbose.
 *
 * @example
 * ```ts
 * if (import.meta.main) await runCommand("demo", async (args) => console.log(args.join(" ")));
 * ```
 */
import { NoAdapterError } from "../kernels/errors.ts";
import { InputError } from "../pipeline/io/input_error.ts";

/** Runs a command's main function and exits with the contract's code. */
export async function runCommand(name: string, main: (args: string[]) => Promise<void>): Promise<never> {
  const verbose = Deno.args.includes("--verbose");
  try {
    await main(Deno.args);
    Deno.exit(0);
  } catch (e) {
    const usage = e instanceof InputError || e instanceof NoAdapterError;
    console.error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (verbose && e instanceof Error && e.stack) console.error(e.stack);
    Deno.exit(usage ? 2 : 1);
  }
}
