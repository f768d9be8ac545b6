/** Files: reading what a user names (failures as InputErrors), JSON, and atomic writes. */
import { join } from "node:path";
import { InputError } from "./input_error.ts";
import { parseJson } from "./json_text.ts";

/** Turns the errors a user can cause (missing file, no permission, a folder) into an InputError. */
function userError(path: string, e: unknown): unknown {
  // A file where a folder of the path should be (`data.csv/x`) means nothing is there either.
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
    return new InputError(`${path}: no such file or folder`);
  }
  if (e instanceof Deno.errors.PermissionDenied) return new InputError(`${path}: permission denied`);
  if (e instanceof Deno.errors.IsADirectory) return new InputError(`${path}: is a folder, not a file`);
  return e;
}

/**
 * Refuses anything but a regular file (after symbolic links): reading a FIFO blocks until a writer
 * comes, reading a device may never end, and a folder is no file.
 */
async function checkRegularFile(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw userError(path, e);
  }
  if (info.isDirectory) throw new InputError(`${path}: is a folder, not a file`);
  if (!info.isFile) throw new InputError(`${path}: not a regular file (a pipe, socket or device); refused`);
}

/**
 * Reads a whole file; a missing or unreadable file, or one that is not a regular file, is an
 * InputError naming it.
 *
 * @example
 * ```ts
 * const bytes = await readInputFile("labels.idx");
 * ```
 */
export async function readInputFile(path: string): Promise<Uint8Array> {
  await checkRegularFile(path);
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw userError(path, e);
  }
}

/**
 * Opens a file for reading parts of it, with the checks of `readInputFile`.
 *
 * @example
 * ```ts
 * using file = await openInputFile("weights.bin");
 * console.log((await file.stat()).size);
 * ```
 */
export async function openInputFile(path: string): Promise<Deno.FsFile> {
  await checkRegularFile(path);
  try {
    return await Deno.open(path, { read: true });
  } catch (e) {
    throw userError(path, e);
  }
}

/**
 * Reads a whole text file (UTF-8) with the checks of `readInputFile`.
 *
 * @example
 * ```ts
 * const csv = await readInputText("groups.csv");
 * ```
 */
export async function readInputText(path: string): Promise<string> {
  return new TextDecoder().decode(await readInputFile(path));
}

/**
 * Lists a folder's entries sorted by name (JavaScript string order, so the same on every machine).
 *
 * @example
 * ```ts
 * const classes = (await listFolder("data")).filter((e) => e.isDirectory).map((e) => e.name);
 * ```
 */
export async function listFolder(path: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(path)) entries.push(entry);
  } catch (e) {
    if (e instanceof Deno.errors.NotADirectory) throw new InputError(`${path}: not a folder`);
    throw userError(path, e);
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Whether something exists at `path` (file or folder).
 *
 * @example
 * ```ts
 * if (await pathExists("out/report.json")) console.log("exists");
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    // A file where a folder of the path should be: nothing can exist below it.
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/**
 * Whether an entry of the folder `dir` is a folder, following a symbolic link (a dangling link is not).
 *
 * @example
 * ```ts
 * for (const entry of await listFolder("photos")) if (await isFolderEntry("photos", entry)) console.log(entry.name);
 * ```
 */
export async function isFolderEntry(dir: string, entry: Deno.DirEntry): Promise<boolean> {
  if (!entry.isSymlink) return entry.isDirectory;
  try {
    return (await Deno.stat(join(dir, entry.name))).isDirectory;
  } catch {
    return false; // a dangling link
  }
}

/**
 * Reads and parses a JSON file; a missing file or bad JSON is an InputError naming it.
 *
 * @example
 * ```ts
 * const manifest = await readJson("model/manifest.json");
 * ```
 */
export async function readJson(path: string): Promise<unknown> {
  return parseJson(await readInputText(path), path);
}

/** Distinguishes the temporary files of concurrent writes within one process. */
let writes = 0;

/** The temporary files of writeAtomic: `NAME.PID.N.tmp`. */
const ATOMIC_TEMP = /^.+\.\d+\.\d+\.tmp$/;

/**
 * Whether a file name is one of writeAtomic's temporary files (left behind only by a killed process).
 *
 * @example
 * ```ts
 * isAtomicTemp("report.json.4242.0.tmp"); // true
 * ```
 */
export function isAtomicTemp(name: string): boolean {
  return ATOMIC_TEMP.test(name);
}

/**
 * The one line for a failed write of `path`. What the user's machine causes (a full disk, a
 * read-only mount, no permission, a missing folder, a folder in the way) is an InputError; anything
 * else stays an internal error, but also names the path.
 */
function writeError(path: string, e: unknown): Error {
  const code = (e as { code?: string }).code;
  const reason = e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : e instanceof Deno.errors.NotFound
    ? "its folder does not exist"
    : e instanceof Deno.errors.IsADirectory
    ? "a folder is in the way"
    : code === "ENOSPC" || code === "EDQUOT"
    ? "no space left on the device"
    : code === "EROFS"
    ? "the file system is read-only"
    : null;
  if (reason) return new InputError(`${path}: cannot write: ${reason}`);
  return new Error(`${path}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * Writes to a temporary file, flushes it to disk, then renames it over `path`. A failed write
 * removes its temporary file and throws one line naming `path` (an InputError where the user's
 * machine is the cause: see `writeError`). `bytes` may come in parts, written one after the other
 * (so a large file need not be one buffer first).
 *
 * @example
 * ```ts
 * await writeAtomic("out/report.json", new TextEncoder().encode("{}"));
 * ```
 */
export async function writeAtomic(path: string, bytes: Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${writes++}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) {
        let written = 0;
        while (written < part.length) written += await file.write(part.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {}); // the write's own error is the one to report
    throw writeError(path, e);
  }
}
