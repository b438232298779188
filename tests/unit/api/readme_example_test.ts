/**
 * The library as a user imports it: the README's example run through the
 * package's `deno.json` exports, and the shape of the entry points (each
 * subpath a module, the root's namespaces the same modules, internals not
 * exported, error categories closed).
 */
import assert from "node:assert/strict";
import type {
  ConfigError,
  ConfigErrorCategory,
  CryptoError,
  CryptoErrorCategory,
  EngineError,
  EngineErrorCategory,
  IpsecError,
  IpsecErrorCategory,
  KerberosError,
  KerberosErrorCategory,
  KernelError,
  KernelErrorCategory,
  NetError,
  NetErrorCategory,
  WireError,
  WireErrorCategory,
} from "../../../mod.ts";
// The daemon is no library entry point, but its errors are part of the family too.
import type { DaemonError, DaemonErrorCategory } from "../../../core/daemon/errors.ts";

const root = new URL("../../../", import.meta.url);
const exportsMap: Record<string, string> = JSON.parse(
  Deno.readTextFileSync(new URL("deno.json", root)),
).exports;

/** The module URL a package specifier (`@kink/kink`, `@kink/kink/wire`) resolves to. */
function resolvePackage(specifier: string): string {
  const sub = "." + specifier.slice("@kink/kink".length);
  const target = exportsMap[sub];
  if (target === undefined) throw new Error(`${specifier}: deno.json exports no ${sub}`);
  return new URL(target, root).href;
}

/** The first TypeScript block of the README's "Using the library" section. */
function readmeExample(): string {
  const readme = Deno.readTextFileSync(new URL("README.md", root));
  const section = readme.indexOf("\n## Using the library\n");
  assert.ok(section >= 0, "README has a Using the library section");
  const start = readme.indexOf("```ts\n", section) + "```ts\n".length;
  const end = readme.indexOf("\n```\n", start);
  assert.ok(start > section && end > start, "the section has a ts block");
  return readme.slice(start, end + 1);
}

Deno.test("README example: runs through the package's subpath exports and verifies racoon2's CREATE/STATUS/DELETE/ACK Cksums", async () => {
  const code = readmeExample().replace(
    /"(@kink\/kink(?:\/[a-z]+)?)"/g,
    (_, spec: string) => JSON.stringify(resolvePackage(spec)),
  );
  assert.ok(!code.includes("@kink/kink"), "every package specifier was resolved");
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(code)));
    await import(`data:application/typescript;base64,${b64}`);
  } finally {
    console.log = log;
  }
  // tests/fixtures/racoon2/README.md: #7–#21 carry tickets for kink/b.kink.test (kvno 3, in
  // B.keytab) from the initiator kink/a.kink.test; #26–#33 were sent after the responder's key
  // rotated to kvno 4, which B.keytab lacks. Commands: #7 CREATE, #9 STATUS, #11 CREATE,
  // #13 DELETE, #15 DELETE, #19 CREATE, #21 ACK, then CREATE retransmissions.
  const from = "from kink/a.kink.test@KINK.TEST, Cksum verified";
  const noKey = "no key for kink/b.kink.test@KINK.TEST kvno 4";
  assert.deepEqual(lines, [
    `frame 7 CREATE: ${from}`,
    `frame 9 STATUS: ${from}`,
    `frame 11 CREATE: ${from}`,
    `frame 13 DELETE: ${from}`,
    `frame 15 DELETE: ${from}`,
    `frame 19 CREATE: ${from}`,
    `frame 21 ACK: ${from}`,
    `frame 26 CREATE: ${noKey}`,
    `frame 28 CREATE: ${noKey}`,
    `frame 30 CREATE: ${noKey}`,
    `frame 32 CREATE: ${noKey}`,
  ]);
});

Deno.test("entry points: each subpath is a module and the root's namespace of the same name is that module", async () => {
  const rootModule = await import(resolvePackage("@kink/kink"));
  const subpaths = Object.keys(exportsMap).filter((s) => s !== ".");
  assert.ok(subpaths.length >= 4, `subpaths ${subpaths}`);
  for (const sub of subpaths) {
    const m = await import(resolvePackage(`@kink/kink/${sub.slice(2)}`));
    assert.ok(Object.keys(m).length > 0, `${sub} exports something`);
    assert.equal(rootModule[sub.slice(2)], m, `root namespace ${sub.slice(2)}`);
  }
});

Deno.test("entry points: test-only functions, the FFI socket and RFC 4120 messages KINK does not use are not exported", async () => {
  const crypto = await import(resolvePackage("@kink/kink/crypto"));
  assert.equal("encryptWithConfounder" in crypto, false);
  for (const name of ["_handle", "_fromHandle"]) {
    assert.equal(
      name in crypto.Key.prototype || name in crypto.Key,
      false,
      `Key.${name} (wasm handle)`,
    );
  }
  const kerberos = await import(resolvePackage("@kink/kink/kerberos"));
  for (const name of ["decodeKrbSafe", "encodeKrbPriv", "decodeKrbCred", "encodeEncKrbCredPart"]) {
    assert.equal(name in kerberos, false, name);
  }
  assert.equal(typeof kerberos.decodeApReq, "function");
  const kernel = await import(resolvePackage("@kink/kink/kernel"));
  assert.equal("socket" in kernel.NetlinkKernel.prototype, false, "NetlinkKernel.socket (FFI)");
});

// Every layer's error category is a closed union, and so is the `category` of its error class:
// `string` is not assignable to it. This is checked when `deno test`/`deno check` type-checks
// this file (an open union fails to compile).
type Closed<T> = string extends T ? false : true;
const closedCategories: [
  Closed<CryptoErrorCategory>,
  Closed<KerberosErrorCategory>,
  Closed<WireErrorCategory>,
  Closed<KernelErrorCategory>,
  Closed<ConfigErrorCategory>,
  Closed<IpsecErrorCategory>,
  Closed<NetErrorCategory>,
  Closed<EngineErrorCategory>,
  Closed<DaemonErrorCategory>,
  Closed<CryptoError["category"]>,
  Closed<KerberosError["category"]>,
  Closed<WireError["category"]>,
  Closed<KernelError["category"]>,
  Closed<ConfigError["category"]>,
  Closed<IpsecError["category"]>,
  Closed<NetError["category"]>,
  Closed<EngineError["category"]>,
  Closed<DaemonError["category"]>,
] = [
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
];
void closedCategories;
