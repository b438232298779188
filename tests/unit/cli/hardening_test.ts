/**
 * Regression tests of the CLI hardening (issue 10): permission flags that
 * cannot be widened by the arguments, paths resolved against the caller's
 * directory, control characters from the wire escaped in every output,
 * redacted keytab entries, streamed and bounded capture reading, a capture
 * cut in its last record decoded up to the cut, and `kink decode`'s exit codes.
 */
import assert from "node:assert/strict";
import { launchArgs } from "../../../core/cli/launch.ts";
import { main } from "../../../core/cli/main.ts";
import { type CommandIO, parseCommandArgs, UsageError } from "../../../core/cli/command.ts";
import { decodeCommand } from "../../../core/cli/commands/decode.ts";
import { analyzeCapture, analyzePackets, orderedReport } from "../../../core/cli/decode/analyze.ts";
import { renderReport } from "../../../core/cli/decode/render.ts";
import { buildErrorReply } from "../../../core/wire/builders.ts";
import { type CapturedPacket, readCapture } from "../../../core/wire/pcap.ts";
import { attributeValue } from "../../../core/wire/isakmp.ts";
import { encodeKrbError, formatPrincipal, readKeytab } from "../../../core/kerberos/mod.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { escapeControl, safeJson } from "../../../core/util/text.ts";

const PCAP = "tests/fixtures/racoon2/kink.pcap";
const B_KT = "tests/fixtures/racoon2/B.keytab";
const A_KT = "tests/fixtures/racoon2/A.keytab";

/** Any C0 control (TAB and LF included), DEL, C1, or a bidi / line-separator control. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function allows(args: string[]): string[] {
  return args.filter((a) => a.startsWith("--allow"));
}

// ---- point 6: permission flags cannot be widened by arguments ----

Deno.test("launcher: a path with a comma is refused, never split into several grants", () => {
  const cases: string[][] = [
    ["decode", "cap,/etc/shadow", "--keytab", B_KT],
    [
      "ticket",
      "--keytab",
      A_KT,
      "--client",
      "a@R",
      "--service",
      "b@R",
      "--kdc",
      "127.0.0.1:88",
      "--ccache",
      "./cc,/etc",
    ],
    ["ticket", "--keytab", "k,/root", "--client", "a@R", "--service", "b@R", "--kdc", "127.0.0.1"],
    [
      "ticket",
      "--keytab",
      A_KT,
      "--krb5-conf",
      "/x,/etc",
      "--client",
      "a@R",
      "--service",
      "b@R",
      "--kdc",
      "127.0.0.1",
    ],
  ];
  for (const argv of cases) {
    assert.throws(() => launchArgs(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.detail, /comma/);
      return true;
    }, argv.join(" "));
  }
});

Deno.test("launcher: an empty path is a usage error, not a deno backtrace", () => {
  for (
    const argv of [
      ["decode", "", "--keytab", B_KT],
      ["ticket", "--keytab", "", "--client", "a@R", "--service", "b@R", "--kdc", "127.0.0.1"],
    ]
  ) {
    assert.throws(() => launchArgs(argv), UsageError, argv.join(" "));
  }
});

Deno.test("launcher: --kdc host names are validated before they reach --allow-net", () => {
  const base = ["ticket", "--keytab", A_KT, "--client", "a@R", "--service", "b@R"];
  for (const bad of ["foo bar:1", "evil\x1b]0;x\x07:88", "[::1 ]:88", "-x.example:88"]) {
    assert.throws(() => launchArgs([...base, `--kdc=${bad}`]), UsageError, bad);
  }
  for (const good of ["kdc.example.com:88", "tcp/10.0.0.1:750", "[fe80::1]:88", "a_b.example."]) {
    const net = allows(launchArgs([...base, "--kdc", good])).filter((f) =>
      f.startsWith("--allow-net=")
    );
    assert.equal(net.length, 1, good);
  }
});

// ---- point 14: relative paths resolve against the caller's directory ----

Deno.test("launcher: relative file arguments resolve against INIT_CWD, in flags and argv alike", () => {
  const args = launchArgs(
    ["decode", "x.pcap", "--keytab", "k1,../k2", "--keytab=/abs/k3"],
    "/home/op",
  );
  assert.deepEqual(allows(args), [
    "--allow-read=/home/op/x.pcap,/home/op/k1,/home/op/../k2,/abs/k3",
  ]);
  const tail = args.slice(args.indexOf("decode"));
  assert.deepEqual(tail, [
    "decode",
    "/home/op/x.pcap",
    "--keytab",
    "/home/op/k1,/home/op/../k2",
    "--keytab=/abs/k3",
  ]);
  const t = launchArgs(
    [
      "ticket",
      "--keytab",
      "a.kt",
      "--client",
      "a@R",
      "--service",
      "b@R",
      "--kdc",
      "127.0.0.1",
      "--ccache",
      "cc",
      "--krb5-conf",
      "/etc/krb5.conf",
    ],
    "/srv",
  );
  assert.ok(allows(t).includes("--allow-write=/srv/cc,/srv/cc.tmp"), allows(t).join(" "));
  assert.ok(allows(t)[0]!.startsWith("--allow-read=/srv/a.kt,/etc/krb5.conf"), allows(t)[0]);
});

// ---- point 12: control characters from the wire are escaped ----

const HOSTILE = "\x1b]0;pwned\x07\r\x1b[2Kfake line\nnext\x7f\x9b31m\u202eevil";

Deno.test("principal: formatPrincipal escapes every control character of a hostile name", () => {
  const s = formatPrincipal({ nameType: 1, components: ["kink", HOSTILE], realm: `R${HOSTILE}` });
  assert.ok(!CONTROL.test(s), JSON.stringify(s));
  assert.match(s, /\\x1b\]0;pwned\\x07\\x0d/);
  assert.match(s, /\\n/); // MIT's own escape for LF is kept
  assert.match(s, /\\x9b31m\\u\{202e\}evil/);
  assert.equal(escapeControl("plain ünïcödé → ok"), "plain ünïcödé → ok");
});

/** A classic pcap (raw IP) of one UDP datagram 10.0.0.2:910 → 10.0.0.1:910. */
function pcapOf(payloads: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const gh = new Uint8Array(24);
  const g = new DataView(gh.buffer);
  g.setUint32(0, 0xa1b2c3d4, true);
  g.setUint16(4, 2, true);
  g.setUint16(6, 4, true);
  g.setUint32(16, 65535, true);
  g.setUint32(20, 101, true);
  parts.push(gh);
  for (const p of payloads) {
    const ip = new Uint8Array(28 + p.length);
    const v = new DataView(ip.buffer);
    ip[0] = 0x45;
    v.setUint16(2, ip.length);
    ip[8] = 64;
    ip[9] = 17;
    ip.set([10, 0, 0, 2], 12);
    ip.set([10, 0, 0, 1], 16);
    v.setUint16(20, 910);
    v.setUint16(22, 910);
    v.setUint16(24, 8 + p.length);
    ip.set(p, 28);
    const rh = new Uint8Array(16);
    const r = new DataView(rh.buffer);
    r.setUint32(0, 1_800_000_000, true);
    r.setUint32(8, ip.length, true);
    r.setUint32(12, ip.length, true);
    parts.push(rh, ip);
  }
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of parts) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

Deno.test("kink decode: a hostile KRB-ERROR (sname, realm, e-text) prints no control character", () => {
  const krbError = encodeKrbError({
    pvno: 5,
    msgType: 30,
    stime: new Date(1_800_000_000_000),
    susec: 0,
    errorCode: 44,
    realm: `KINK.TEST${HOSTILE}`,
    sname: { nameType: 1, components: ["kink", HOSTILE] },
    eText: HOSTILE,
  });
  const file = pcapOf([buildErrorReply({ xid: 7, krbError })]);
  const report = analyzeCapture(file, { keytab: [], prf: "racoon2", showKeys: false });
  assert.equal(report.messages.length, 1);
  const text = renderReport(report);
  assert.ok(text.some((l) => l.includes("KINK_KRB_ERROR 44")), text.join("\n"));
  for (const l of text) assert.ok(!CONTROL.test(l), JSON.stringify(l));
  // JSON: the same value for a JSON reader, inert on a terminal.
  const line = safeJson(orderedReport(report.messages[0]!));
  assert.ok(!CONTROL.test(line), line);
  const back = JSON.parse(line) as { payloads: { eText: string }[] };
  assert.equal(back.payloads[0]!.eText, HOSTILE);
});

Deno.test("cli: an error text with control characters reaches stderr as one inert line", async () => {
  const err: string[] = [];
  const io: CommandIO = { out: () => {}, err: (l) => err.push(l) };
  const code = await main(["decode", PCAP, "--keytab", B_KT, "--prf", `x${HOSTILE}`], io);
  assert.equal(code, 2);
  assert.equal(err.length, 1);
  assert.ok(!CONTROL.test(err[0]!), JSON.stringify(err[0]));
  const unknown: string[] = [];
  await main([`frob${HOSTILE}`], { out: () => {}, err: (l) => unknown.push(l) });
  assert.ok(!CONTROL.test(unknown[0]!), JSON.stringify(unknown[0]));
});

// ---- point 13: keytab entries never print their keys ----

Deno.test("keytab: Deno.inspect, console formatting and JSON of an entry show no key octets", () => {
  const entries = readKeytab(Deno.readFileSync(B_KT));
  assert.ok(entries.length > 0);
  for (const e of entries) {
    const hex = toHex(e.key);
    const bytes = [...e.key].join(", ");
    for (
      const shown of [
        Deno.inspect(e),
        Deno.inspect(entries, { depth: 10 }),
        JSON.stringify(e),
        JSON.stringify({ entries }),
      ]
    ) {
      assert.ok(!shown.includes(hex), shown);
      assert.ok(!shown.includes(bytes), shown);
      assert.match(shown, new RegExp(`${e.key.length} octets redacted`));
    }
  }
});

// ---- point 9/11: streamed capture, cut last record ----

Deno.test("pcap: a capture cut inside its last record yields every complete frame and a warning", () => {
  const file = Deno.readFileSync(PCAP);
  const whole = readCapture(file);
  const cut = file.subarray(0, file.length - 3);
  const warnings: string[] = [];
  const got = readCapture(cut, warnings);
  assert.equal(got.length, whole.length - 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /truncated capture: record 33 claims \d+ octets/);
  // …and kink decode analyses the complete frames instead of rejecting the file.
  const r = analyzeCapture(cut, {
    keytab: readKeytab(Deno.readFileSync(B_KT)),
    prf: "racoon2",
    showKeys: false,
  });
  assert.equal(r.messages.length, 20);
  assert.ok(r.kerberos.some((k) => k.startsWith("truncated capture")), r.kerberos.join("\n"));
  // A cut inside a record header is reported the same way.
  const hdrCut = file.subarray(0, file.length - whole[whole.length - 1]!.data.length - 10);
  const w2: string[] = [];
  assert.equal(readCapture(hdrCut, w2).length, whole.length - 1);
  assert.match(w2[0]!, /6 octets of a 16-octet record header/);
});

Deno.test("pcap: records longer than libpcap's maximum snap length are refused, not allocated", () => {
  const file = Deno.readFileSync(PCAP).slice(0, 24 + 16);
  new DataView(file.buffer).setUint32(24 + 8, 0x7fffffff, true);
  assert.throws(() => readCapture(file), /more than the limit of 262144/);
});

// ---- point 10: ISAKMP attribute values ----

Deno.test("isakmp: a 65535-octet attribute value is read exactly (linear hex parse)", () => {
  const b = new Uint8Array(65535).fill(0xff);
  assert.equal(attributeValue({ type: 2, value: b }), (1n << BigInt(8 * 65535)) - 1n);
  const z = new Uint8Array(65535);
  z[65534] = 7;
  assert.equal(attributeValue({ type: 2, value: z }), 7);
  assert.equal(attributeValue({ type: 2, value: Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0) }), 2 ** 48);
  assert.equal(
    attributeValue({ type: 2, value: Uint8Array.of(0x20, 0, 0, 0, 0, 0, 0, 1) }),
    (0x20n << 56n) + 1n,
  );
});

// ---- point 14: kink decode's exit status ----

async function decode(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await decodeCommand.run(parseCommandArgs(decodeCommand, argv), {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

Deno.test("kink decode: exit 0 only when every message is verified; 4 without a fitting key", async () => {
  const both = await decode([PCAP, "--keytab", `${B_KT},${A_KT}`]);
  assert.equal(both.code, 0, both.out.slice(-3).join("\n"));
  const none = await decode([PCAP]);
  assert.equal(none.code, 4);
  assert.match(none.out[none.out.length - 1]!, /^verdict: could not verify 17 message\(s\)/);
  // B's keytab alone lacks kvno 4: frames 26–32 cannot be verified.
  const onlyB = await decode([PCAP, "--keytab", B_KT, "--json"]);
  assert.equal(onlyB.code, 4);
  assert.ok(onlyB.err.some((l) => /frames 26, 28, 30, 32/.test(l)), onlyB.err.join("\n"));
});

Deno.test("kink decode: memory does not grow per datagram (20000 copies of one CREATE)", () => {
  const f7 = readCapture(Deno.readFileSync(PCAP))[6]!;
  const keytab = readKeytab(Deno.readFileSync(B_KT));
  function* copies(): Generator<CapturedPacket> {
    for (let i = 0; i < 20000; i++) yield { ...f7, frame: i + 1, data: f7.data.slice() };
  }
  const before = Deno.memoryUsage().rss;
  let seen = 0;
  const sum = analyzePackets(copies(), { keytab, prf: "racoon2", showKeys: false }, (m) => {
    if (m.cksum?.status === "verified") seen++;
  });
  const grew = Deno.memoryUsage().rss - before;
  assert.equal(sum.messages, 20000);
  assert.equal(seen, 20000);
  // One session key per ticket and no report kept: 15–35 MiB of runtime noise here, where a
  // key and a report per datagram cost ~125 MiB.
  assert.ok(grew < 64 * 2 ** 20, `RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB`);
});
