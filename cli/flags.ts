/**
 * Flags of every command from one zod object: its keys are the flag names (kebab-case), a
 * `z.boolean()` field is a flag without a value, every other field takes one. The same schema gives
 * the node:util parseArgs options, the `--help` usage line, and the validation, whose first problem
 * is an InputError naming the flag. Parsed values come back under camelCase keys (`--batch-size` ->
 * `batchSize`), the names the pipeline's options use.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * const command = {
 *   name: "demo",
 *   summary: "Counts to N.",
 *   flags: z.object({ "up-to": numberFlag(z.number().int().default(3)), loud: z.boolean().default(false) }),
 * };
 * const flags = parseFlags(command, ["--up-to", "5"]); // { upTo: 5, loud: false }
 * ```
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { InputError } from "../pipeline/io/input_error.ts";

/** A command's flags and what `--help` says about it. */
export interface CommandFlags<T extends z.ZodObject> {
  /** The task's name: `deno task NAME`. */
  name: string;
  /** One or two sentences printed under the usage line. */
  summary: string;
  /** The flags by name (kebab-case); `--help` is added to them. */
  flags: T;
}

type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;
/** An object with its kebab-case keys in camelCase. */
export type CamelKeys<T> = { [K in keyof T as K extends string ? CamelCase<K> : K]: T[K] };

const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * A flag whose text is read as a number, then checked (and defaulted) by `schema`. Text that
 * `schema` takes as it is (a word such as "all" in a union) stays text; an absent flag reaches
 * `schema` as undefined.
 */
export function numberFlag<T extends z.ZodType>(schema: T): z.ZodPreprocess<T> {
  return z.preprocess(
    (text) => text === undefined || schema.safeParse(text).success ? text : Number(text),
    schema,
  );
}

/**
 * Parses a command's arguments. Returns null after printing the usage when `--help` is given.
 * Unknown flags, a missing value or a positional argument throw an InputError with the first line
 * of parseArgs' message; invalid values one with the first problem, `--flag: message`. A value that
 * is a negative number (`--limit -5`) is read as the flag's value, so its range check answers.
 */
export function parseFlags<T extends z.ZodObject>(
  command: CommandFlags<T>,
  args: string[],
): CamelKeys<z.output<T>> | null {
  const options = Object.fromEntries(
    Object.entries(command.flags.shape).map(([name, schema]) => [
      name,
      { type: takesValue(schema as z.ZodType) ? "string" as const : "boolean" as const },
    ]),
  );
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: attachNegativeNumbers(args, options),
      options: { ...options, help: { type: "boolean" } },
      strict: true,
    }));
  } catch (e) {
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      // parseArgs explains some mistakes over several lines; the contract is one.
      throw new InputError(e.message.split("\n")[0]);
    }
    throw e;
  }
  if (values.help) {
    console.log(usage(command));
    return null;
  }
  const parsed = command.flags.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The flag, not the element of its list (`--widths`, not `--widths.0`).
    const flag = issue.path.length > 0 ? `--${String(issue.path[0])}` : "arguments";
    throw new InputError(`${flag}: ${issue.message}`);
  }
  return Object.fromEntries(
    Object.entries(parsed.data as Record<string, unknown>).map(([name, value]) => [camelCase(name), value]),
  ) as CamelKeys<z.output<T>>;
}

/**
 * The usage line and the summary: required flags bare, the others in brackets, each value named by
 * the schema's `value` metadata or by its type (N for numbers, the choices of an enum, V for text).
 */
export function usage<T extends z.ZodObject>(command: CommandFlags<T>): string {
  const flags = Object.entries(command.flags.shape).map(([name, field]) => {
    const schema = field as z.ZodType;
    const value = valueName(schema);
    const flag = value === null ? `--${name}` : `--${name} ${value}`;
    return schema.safeParse(undefined).success ? `[${flag}]` : flag;
  });
  return `usage: deno task ${command.name} ${[...flags, "[--help]"].join(" ")}\n${command.summary}`;
}

/**
 * `--flag -5` as `--flag=-5` for a flag that takes a value: parseArgs reads a value starting with a
 * dash as a missing one, and the flag's own range check is the better message.
 */
function attachNegativeNumbers(args: string[], options: Record<string, { type: "string" | "boolean" }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i].startsWith("--") ? args[i].slice(2) : "";
    const next = args[i + 1];
    if (options[flag]?.type === "string" && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

function takesValue(schema: z.ZodType): boolean {
  return valueName(schema) !== null;
}

/**
 * The placeholder of a flag's value in the usage line; null for a flag without one. A schema can
 * name it with `.meta({ value: "DIR" })`.
 */
function valueName(schema: z.ZodType): string | null {
  const named = schema.meta()?.value;
  if (typeof named === "string") return named;
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) return valueName(schema.unwrap() as z.ZodType);
  // A number flag's pipe starts with its reading; what it is read as is the pipe's end.
  if (schema instanceof z.ZodPipe) {
    return valueName((schema.in instanceof z.ZodTransform ? schema.out : schema.in) as z.ZodType);
  }
  if (schema instanceof z.ZodBoolean) return null;
  if (schema instanceof z.ZodNumber) return "N";
  if (schema instanceof z.ZodEnum) return schema.options.join("|");
  if (schema instanceof z.ZodLiteral) return [...schema.values].join("|");
  if (schema instanceof z.ZodUnion) return schema.options.map((s) => valueName(s as z.ZodType)).join("|");
  return "V";
}
