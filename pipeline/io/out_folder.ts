/**
 * The folder a command writes into (the audit's --out, the review's --report) is the tool's own:
 * a marker file says the tool made or claimed it, and a lock file (created exclusively, holding
 * the pid and host) keeps a second run out while one writes. A lock whose process is gone (same
 * host, no /proc/PID) is stale and taken over. The lock goes on every exit the process sees:
 * release, an error unwinding `using`, and Deno.exit (its unload event, e.g. Ctrl-C's exit 130).
 *
 * @example
 * ```ts
 * await assertOutFolderUsable("audit-report", { flag: "--out", force: false }); // before the slow part
 * using folder = await claimOutFolder("audit-report", {
 *   flag: "--out",
 *   command: "audit",
 *   force: false,
 *   create: true,
 *   marker: true,
 *   tempFolders: ["", "assets"],
 * });
 * if (folder?.tookOver) console.error(folder.tookOver);
 * ```
 */
import { join } from "node:path";
import { isAtomicTemp, pathExists } from "./files.ts";
import { InputError } from "./input_error.ts";

/** The marker: present in a folder the tool created or was allowed (by --force) to write into. */
export const MARKER_FILE = ".convnet-audit";
/** The lock: present while a run writes into the folder. */
export const LOCK_FILE = ".convnet-audit.lock";
/** Held while a stale lock is replaced, so two runs never both take it over. */
const TAKEOVER_FILE = ".convnet-audit.lock.takeover";

/** Who holds a lock. */
export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface ClaimOptions {
  /** The flag that named the folder, for messages (e.g. "--out"). */
  flag: string;
  /** The command taking the folder, recorded in the lock and the marker. */
  command: string;
  /** Write into a non-empty folder that has no marker. */
  force: boolean;
  /** Create the folder when missing; when false a missing folder is not claimed (null). */
  create: boolean;
  /** Whether the folder must be the tool's (marker checked and written); false only locks it. */
  marker: boolean;
  /** Folders, relative to the claimed one, whose leftover temporary files from writeAtomic are removed. */
  tempFolders: string[];
}

const host = () => Deno.hostname();

/** Whether a lock's process is gone: only decidable on this host, and only with /proc. */
function isStale(holder: LockHolder): boolean {
  if (holder.host !== host() || Deno.build.os !== "linux") return false;
  try {
    Deno.statSync(`/proc/${holder.pid}`);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

/** The lock's holder; null when there is no lock; "unreadable" while it is being written, or when garbled. */
async function readLock(dir: string): Promise<LockHolder | null | "unreadable"> {
  // createNew then write: a lock just created may still be empty, so give its writer a moment.
  for (let attempt = 0; attempt < 10; attempt++) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(dir, LOCK_FILE));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
      throw e;
    }
    try {
      const holder = JSON.parse(text);
      if (Number.isInteger(holder.pid) && typeof holder.host === "string") return holder as LockHolder;
    } catch { /* not yet written */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  return "unreadable";
}

const describe = (h: LockHolder) => `pid ${h.pid} on host ${h.host} (${h.command}, since ${h.since})`;

function inUse(dir: string, flag: string, holder: LockHolder | "unreadable"): InputError {
  const who = holder === "unreadable" ? "another run (its lock is unreadable)" : describe(holder);
  return new InputError(
    `${flag} ${dir}: in use by ${who}; wait for it to finish, or remove ${join(dir, LOCK_FILE)} if it is not running`,
  );
}

function notOurs(dir: string, flag: string): InputError {
  return new InputError(
    `${flag} ${dir}: the folder is not empty and this tool did not create it (no ${MARKER_FILE}); ` +
      `choose another folder, or pass --force to write into it`,
  );
}

/** Whether `dir` holds anything besides the tool's marker and lock; false when it does not exist. */
async function holdsForeignEntries(dir: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (![MARKER_FILE, LOCK_FILE, TAKEOVER_FILE].includes(entry.name)) return true;
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
  return false;
}

/**
 * Throws the InputError a claim would, without writing anything: the folder is held by a live
 * run, or it is non-empty, unmarked and `force` is not set. A missing folder passes.
 */
export async function assertOutFolderUsable(dir: string, options: { flag: string; force: boolean }): Promise<void> {
  const holder = await readLock(dir);
  if (holder !== null && (holder === "unreadable" || !isStale(holder))) throw inUse(dir, options.flag, holder);
  if (!options.force && !(await pathExists(join(dir, MARKER_FILE))) && await holdsForeignEntries(dir)) {
    throw notOurs(dir, options.flag);
  }
}

/** A folder held by this process until released. */
export class OutFolder implements Disposable {
  #released = false;
  readonly #onUnload = () => this.release();

  /** Made by claimOutFolder, which holds the lock; release() removes it. */
  constructor(
    readonly dir: string,
    /** A line naming the stale lock taken over, null when there was none. */
    readonly tookOver: string | null,
    readonly tempFolders: string[],
  ) {
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /** Removes the leftover temporary files of writeAtomic in the temp folders (never a file of another name). */
  sweepTemps(): void {
    for (const folder of this.tempFolders) {
      const path = join(this.dir, folder);
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(path)];
      } catch {
        continue; // not there (yet)
      }
      for (const entry of entries) {
        if (entry.isFile && isAtomicTemp(entry.name)) Deno.removeSync(join(path, entry.name));
      }
    }
  }

  /** Sweeps the temporary files and removes the lock; a second call does nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      this.sweepTemps();
    } finally {
      Deno.removeSync(join(this.dir, LOCK_FILE));
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Creates the lock file exclusively; false when one exists. */
async function createLock(dir: string, command: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(dir, LOCK_FILE), { write: true, createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
  try {
    const holder: LockHolder = { pid: Deno.pid, host: host(), command, since: new Date().toISOString() };
    await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
  } finally {
    file.close();
  }
  return true;
}

/** Replaces a stale lock under the takeover file; false when another run is taking it over. */
async function takeOver(dir: string, command: string, stale: LockHolder): Promise<boolean> {
  const guard = join(dir, TAKEOVER_FILE);
  try {
    (await Deno.open(guard, { write: true, createNew: true })).close();
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
  try {
    const now = await readLock(dir);
    // Another run may have taken it over and finished between our read and the guard.
    if (now !== null && (now === "unreadable" || now.pid !== stale.pid || now.host !== stale.host)) return false;
    await Deno.remove(join(dir, LOCK_FILE)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    return await createLock(dir, command);
  } finally {
    await Deno.remove(guard);
  }
}

/**
 * Locks `dir` for this process (creating it when `create` says so; null when it is missing and
 * may not be created), then, with `marker`, checks it is the tool's (or `force`) and marks it.
 * Leftover temporary files are swept. A folder held by a live run, or a foreign folder, is an
 * InputError naming it; so is a folder that cannot be written.
 */
export async function claimOutFolder(dir: string, options: ClaimOptions): Promise<OutFolder | null> {
  const { flag, command } = options;
  if (!(await pathExists(dir))) {
    if (!options.create) return null;
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      throw cannotWrite(dir, flag, e);
    }
  }
  let tookOver: string | null = null;
  try {
    if (!(await createLock(dir, command))) {
      const holder = await readLock(dir);
      if (holder === "unreadable" || (holder !== null && !isStale(holder))) throw inUse(dir, flag, holder);
      const taken = holder === null ? await createLock(dir, command) : await takeOver(dir, command, holder);
      if (!taken) throw inUse(dir, flag, (await readLock(dir)) ?? "unreadable");
      if (holder !== null) tookOver = `${flag} ${dir}: took over the stale lock of ${describe(holder)}: not running`;
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw cannotWrite(dir, flag, e);
  }
  const folder = new OutFolder(dir, tookOver, options.tempFolders);
  try {
    if (options.marker) await mark(dir, options);
    folder.sweepTemps();
  } catch (e) {
    folder.release();
    throw e instanceof InputError ? e : cannotWrite(dir, flag, e);
  }
  return folder;
}

function cannotWrite(dir: string, flag: string, e: unknown): InputError {
  return new InputError(`${flag} ${dir}: cannot write there (${e instanceof Error ? e.message : e})`);
}

/** Writes the marker, after checking that an unmarked folder is empty or `force` is set. */
async function mark(dir: string, options: ClaimOptions): Promise<void> {
  const path = join(dir, MARKER_FILE);
  if (await pathExists(path)) return;
  if (!options.force && await holdsForeignEntries(dir)) throw notOurs(dir, options.flag);
  const marker = { tool: "convnet-audit", command: options.command, createdAt: new Date().toISOString() };
  await Deno.writeTextFile(path, JSON.stringify(marker) + "\n");
}

/**
 * Creates `dir` and marks it as the tool's without locking it: for a folder that several runs
 * write into at once, each into a folder of its own that it claims (an audit's shards). A
 * non-empty folder without the marker is refused unless `force`, as a claim refuses it.
 *
 * @example
 * ```ts
 * await markSharedFolder("audit-report", { flag: "--out", command: "audit", force: false });
 * using shard = await claimOutFolder("audit-report/shards/0", { flag: "--out", command: "audit", force: false, create: true, marker: true, tempFolders: [""] });
 * ```
 */
export async function markSharedFolder(
  dir: string,
  options: { flag: string; command: string; force: boolean },
): Promise<void> {
  const path = join(dir, MARKER_FILE);
  try {
    await Deno.mkdir(dir, { recursive: true });
    if (await pathExists(path)) return;
    // Another run may have marked it and started writing since the look above: look again.
    if (!options.force && await holdsForeignEntries(dir) && !(await pathExists(path))) {
      throw notOurs(dir, options.flag);
    }
    const marker = { tool: "convnet-audit", command: options.command, createdAt: new Date().toISOString() };
    await Deno.writeTextFile(path, JSON.stringify(marker) + "\n", { createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return; // another run marked it first
    throw e instanceof InputError ? e : cannotWrite(dir, options.flag, e);
  }
}

/**
 * Removes the files of `folder` that `isOwn` accepts, then the folder itself if that left it
 * empty; any other file stays, and so does the folder. A missing folder is nothing to do.
 *
 * @example
 * ```ts
 * await removeOwnFiles("audit-report/partial", (name) => /^batch-\d{6}\.json$/.test(name));
 * ```
 */
export async function removeOwnFiles(folder: string, isOwn: (name: string) => boolean): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) entries.push(entry);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const own = entries.filter((entry) => entry.isFile && isOwn(entry.name));
  for (const entry of own) await Deno.remove(join(folder, entry.name));
  if (own.length === entries.length) await Deno.remove(folder);
}
