/**
 * The README's library example as another Deno program runs it: a
 * workspace whose members are this repository and an app whose main module
 * is the README block verbatim, so `@kink/kink/…` resolves through the
 * package's real `deno.json` exports. It runs with exactly the permission the
 * README states (`--allow-read=tests/fixtures/racoon2`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { run } from "../../harness/exec.ts";
import { tempRoot, uniqueName } from "../../harness/cleanup.ts";

const repo = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");

function readmeExample(): string {
  const readme = Deno.readTextFileSync(join(repo, "README.md"));
  const section = readme.indexOf("\n## Using the library\n");
  const start = readme.indexOf("```ts\n", section) + "```ts\n".length;
  const end = readme.indexOf("\n```\n", start);
  assert.ok(section >= 0 && start > section && end > start, "README example block");
  return readme.slice(start, end + 1);
}

Deno.test("README example: another program in a Deno workspace imports @kink/kink/* subpaths and verifies racoon2's Cksums", async () => {
  const dir = await Deno.makeTempDir({ dir: tempRoot(), prefix: `${uniqueName("workspace")}-` });
  try {
    await Deno.symlink(repo, join(dir, "kink"));
    await Deno.mkdir(join(dir, "app", "tests", "fixtures"), { recursive: true });
    await Deno.symlink(
      join(repo, "tests", "fixtures", "racoon2"),
      join(dir, "app", "tests", "fixtures", "racoon2"),
    );
    await Deno.writeTextFile(
      join(dir, "deno.json"),
      JSON.stringify({ workspace: ["./kink", "./app"] }),
    );
    await Deno.writeTextFile(
      join(dir, "app", "deno.json"),
      JSON.stringify({ name: "@example/app", version: "0.0.0", exports: "./main.ts" }),
    );
    await Deno.writeTextFile(join(dir, "app", "main.ts"), readmeExample());
    const r = await run(
      [Deno.execPath(), "run", "--no-lock", "--allow-read=tests/fixtures/racoon2", "main.ts"],
      { cwd: join(dir, "app") },
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    // tests/fixtures/racoon2/README.md: the initiator's commands #7–#21 (kvno 3, in B.keytab),
    // then CREATEs for kvno 4, which B.keytab lacks.
    assert.deepEqual(
      lines.map((l) => l.replace(/^frame (\d+) (\w+): .*?(Cksum verified|kvno 4)$/, "$1 $2 $3")),
      [
        "7 CREATE Cksum verified",
        "9 STATUS Cksum verified",
        "11 CREATE Cksum verified",
        "13 DELETE Cksum verified",
        "15 DELETE Cksum verified",
        "19 CREATE Cksum verified",
        "21 ACK Cksum verified",
        "26 CREATE kvno 4",
        "28 CREATE kvno 4",
        "30 CREATE kvno 4",
        "32 CREATE kvno 4",
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
