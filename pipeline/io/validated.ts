/**
 * Validating what a user's file holds against a zod schema: the first problem becomes one
 * InputError line naming the file, what the file should be, and where in it the problem is.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * const settings = validated(z.object({ seed: z.number() }), { seed: 1 }, "run.json", "invalid settings");
 * // on { seed: "x" }: "run.json: invalid settings at seed: Invalid input: expected number, received string"
 * ```
 */
import type { z } from "zod";
import { InputError } from "./input_error.ts";

/** `value` parsed by `schema`, or an InputError `SOURCE: WHAT at PATH: MESSAGE` ("top level" for the root). */
export function validated<S extends z.ZodType>(schema: S, value: unknown, source: string, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InputError(`${source}: ${what} at ${issue.path.join(".") || "top level"}: ${issue.message}`);
}
