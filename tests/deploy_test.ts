/**
 * The Kubernetes manifest of a sharded audit, parsed and checked (no cluster runs it here): the
 * schema of each object, the index wiring (an Indexed Job whose pods get the completion index and
 * a completion count equal to the Job's, read by --shard auto as the shards module does), the GPU
 * requests, and one shared volume mounted where both Jobs write the report folder; every flag the
 * containers pass is one the commands take.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { parseShard } from "../pipeline/audit/shards.ts";
import { runCli } from "./cli_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const Mount = z.object({ name: z.string(), mountPath: z.string() });
const Env = z.object({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.string() }) }).optional(),
});
const Container = z.object({
  name: z.string(),
  image: z.string(),
  command: z.array(z.string()),
  env: z.array(Env).default([]),
  resources: z.object({ limits: z.record(z.string(), z.union([z.string(), z.number()])) }).optional(),
  volumeMounts: z.array(Mount),
});
const PodSpec = z.object({
  restartPolicy: z.enum(["Never", "OnFailure"]),
  initContainers: z.array(Container).default([]),
  containers: z.array(Container).length(1),
  volumes: z.array(z.object({ name: z.string(), persistentVolumeClaim: z.object({ claimName: z.string() }) })),
});
const Job = z.object({
  apiVersion: z.literal("batch/v1"),
  kind: z.literal("Job"),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    completionMode: z.enum(["Indexed", "NonIndexed"]).optional(),
    completions: z.number().int().min(1).optional(),
    parallelism: z.number().int().min(1).optional(),
    backoffLimit: z.number().int().min(0),
    template: z.object({ spec: PodSpec }),
  }),
});
const Claim = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("PersistentVolumeClaim"),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    accessModes: z.array(z.string()),
    resources: z.object({ requests: z.object({ storage: z.string() }) }),
  }),
});

const flagValue = (command: string[], flag: string) => command[command.indexOf(flag) + 1];
const envValue = (container: z.infer<typeof Container>, name: string) => container.env.find((e) => e.name === name);

/** The flags a command's --help lists. */
async function flagsOf(name: string): Promise<Set<string>> {
  const help = await runCli(name, ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  return new Set(help.stdout.match(/--[a-z][a-z-]*/g));
}

Deno.test("deploy/k8s/audit-job.yaml: an Indexed Job of shards and a merge Job, GPUs, one shared volume", async () => {
  const documents = parseAllDocuments(await Deno.readTextFile(`${ROOT}deploy/k8s/audit-job.yaml`));
  for (const doc of documents) assert.deepEqual(doc.errors, [], "the manifest is valid YAML");
  const [claim, shards, merge] = documents.map((d) => d.toJS());
  const volume = Claim.parse(claim);
  assert.ok(volume.spec.accessModes.includes("ReadWriteMany"), "shards on several nodes mount the volume at once");
  const [shardJob, mergeJob] = [Job.parse(shards), Job.parse(merge)];

  // The index wiring: each pod's index and the Job's completion count reach --shard auto.
  assert.equal(shardJob.spec.completionMode, "Indexed");
  const count = shardJob.spec.completions!;
  const shard = shardJob.spec.template.spec.containers[0];
  assert.deepEqual(shard.command.slice(0, 4), ["deno", "run", "--allow-all", "cli/audit.ts"]);
  assert.equal(flagValue(shard.command, "--shard"), "auto");
  assert.equal(
    envValue(shard, "JOB_COMPLETION_INDEX")?.valueFrom?.fieldRef.fieldPath,
    "metadata.annotations['batch.kubernetes.io/job-completion-index']",
  );
  const completions = envValue(shard, "JOB_COMPLETIONS")?.value;
  assert.equal(completions, String(count), "JOB_COMPLETIONS is the Job's completions");
  assert.deepEqual(parseShard("auto", { JOB_COMPLETION_INDEX: String(count - 1), JOB_COMPLETIONS: completions }), {
    index: count - 1,
    count,
  });
  const [wait] = mergeJob.spec.template.spec.initContainers;
  assert.equal(envValue(wait, "SHARDS")?.value, String(count), "the merge waits for every shard");

  // GPUs, and the report folder on the one shared volume in every container that reads or writes it.
  const mergeContainer = mergeJob.spec.template.spec.containers[0];
  assert.deepEqual(mergeContainer.command.slice(0, 4), ["deno", "run", "--allow-all", "cli/merge.ts"]);
  const out = flagValue(shard.command, "--out");
  assert.equal(flagValue(mergeContainer.command, "--out"), out);
  for (const container of [shard, mergeContainer]) {
    assert.equal(String(container.resources?.limits["nvidia.com/gpu"]), "1");
  }
  for (const job of [shardJob, mergeJob]) {
    const pod = job.spec.template.spec;
    const volumes = new Map(pod.volumes.map((v) => [v.name, v.persistentVolumeClaim.claimName]));
    for (const container of [...pod.initContainers, ...pod.containers]) {
      const onVolume = container.volumeMounts.filter((m) => volumes.get(m.name) === volume.metadata.name);
      assert.ok(
        onVolume.some((m) => out.startsWith(`${m.mountPath.replace(/\/$/, "")}/`)),
        `${job.metadata.name}/${container.name} mounts ${volume.metadata.name} above ${out}`,
      );
    }
  }
  // The model and the data the shards read lie on the volume too.
  const claimOf = new Map(shardJob.spec.template.spec.volumes.map((v) => [v.name, v.persistentVolumeClaim.claimName]));
  const shared = shard.volumeMounts.find((m) => claimOf.get(m.name) === volume.metadata.name)!.mountPath;
  for (const flag of ["--model", "--data"]) {
    const path = flagValue(shard.command, flag).replace(/^[a-z]+:/, "");
    assert.ok(path.startsWith(`${shared}/`), `${flag} ${path} is on the shared volume`);
  }
  const [auditFlags, mergeFlags] = [await flagsOf("audit"), await flagsOf("merge")];
  for (const flag of shard.command.filter((a) => a.startsWith("--") && a !== "--allow-all")) {
    assert.ok(auditFlags.has(flag), `audit takes ${flag}`);
  }
  for (const flag of mergeContainer.command.filter((a) => a.startsWith("--") && a !== "--allow-all")) {
    assert.ok(mergeFlags.has(flag), `merge takes ${flag}`);
  }
});
