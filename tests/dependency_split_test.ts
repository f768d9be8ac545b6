/**
 * The commands run with `deno.json` and install everything `deno.lock` pins; the tests, the bench and the
 * type-check run with `deno.dev.json`, which adds the packages only they use, pinned in `deno.dev.lock`. These
 * checks keep the two from drifting: the tests must see the versions the commands run, and a test-only package
 * that reached `deno.lock` would be installed by every audit again.
 */
import assert from "node:assert/strict";

interface Config {
  imports: Record<string, string>;
}
interface Lock {
  npm: Record<string, { integrity: string }>;
}

const readRootJson = async <T>(name: string): Promise<T> =>
  JSON.parse(await Deno.readTextFile(new URL(`../${name}`, import.meta.url)));

const app = await readRootJson<Config>("deno.json");
const dev = await readRootJson<Config>("deno.dev.json");
const appLock = await readRootJson<Lock>("deno.lock");
const devLock = await readRootJson<Lock>("deno.dev.lock");

Deno.test("deno.dev.json maps every import of deno.json to the same package and version", () => {
  for (const [name, target] of Object.entries(app.imports)) {
    assert.equal(dev.imports[name], target, `deno.dev.json: ${name}`);
  }
});

Deno.test("deno.lock pins none of the test and bench packages, and what it pins deno.dev.lock pins alike", () => {
  const devOnly = Object.keys(dev.imports).filter((name) => !(name in app.imports));
  assert.ok(devOnly.length > 0, "deno.dev.json adds no package");
  for (const name of devOnly) {
    const pinned = dev.imports[name].replace(/^npm:/, "");
    assert.ok(!(pinned in appLock.npm), `deno.lock pins ${pinned}, which only tests and bench import`);
  }
  for (const [pkg, { integrity }] of Object.entries(appLock.npm)) {
    assert.equal(devLock.npm[pkg]?.integrity, integrity, `deno.dev.lock: ${pkg}`);
  }
});
