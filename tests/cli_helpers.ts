/** Runs the project's CLI commands as a user would, for end-to-end tests. */
import { pathExists } from "../pipeline/io/files.ts";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A cli/<name>.ts ...args` from the repository root. */
export async function runCli(
  name: string,
  args: string[],
  options: { signal?: AbortSignal; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  const root = new URL("..", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `cli/${name}.ts`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    signal: options.signal,
    env: options.env,
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** Starts `deno run -A cli/<name>.ts ...args` from the repository root as a child process. */
export function spawnCli(name: string, args: string[], output: "null" | "piped" = "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `cli/${name}.ts`, ...args],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: output,
    stderr: output,
  }).spawn();
}

/** Waits until `path` exists (a running command's output), for at most two minutes. */
export async function waitForFile(path: string, what: string): Promise<void> {
  for (let waited = 0; !(await pathExists(path)); waited += 20) {
    if (waited > 120_000) throw new Error(`${what} did not appear in 2 minutes`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The lines of stderr that the command wrote (Mesa's XDG_RUNTIME_DIR notices removed). */
export function errorLines(result: CommandResult): string[] {
  return result.stderr.split("\n").filter((line) => line.trim() && !line.includes("XDG_RUNTIME_DIR"));
}
