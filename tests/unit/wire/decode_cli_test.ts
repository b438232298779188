import { assert, assertEquals } from "./assert.ts";
import { decodeCommand } from "../../../core/cli/commands/decode.ts";
import { parseCommandArgs } from "../../../core/cli/command.ts";
import type { MessageReport } from "../../../core/cli/decode/analyze.ts";
import { parseSadb } from "./capture.ts";

const PCAP = "tests/fixtures/racoon2/kink.pcap";
const KT = "tests/fixtures/racoon2/B.keytab,tests/fixtures/racoon2/A.keytab";

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const args = parseCommandArgs(decodeCommand, argv);
  const code = await decodeCommand.run(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

Deno.test("kink decode --json: one object per KINK message with the documented keys and verdicts", async () => {
  const { code, out } = await run([PCAP, "--keytab", KT, "--json"]);
  assertEquals(code, 0);
  const msgs = out.map((l) => JSON.parse(l) as MessageReport);
  assertEquals(msgs.length, 21);
  for (const m of msgs) {
    for (
      const k of [
        "frame",
        "time",
        "src",
        "srcPort",
        "dst",
        "dstPort",
        "udpLength",
        "truncated",
        "header",
        "payloads",
        "cksum",
        "problems",
      ]
    ) {
      assert(k in m, `frame ${m.frame} lacks ${k}`);
    }
  }
  const by = (n: number) => msgs.find((m) => m.frame === n)!;
  // frame 7: CREATE, ticket decrypted with B's keytab kvno 3, Cksum verified, KINK_ENCRYPT opened
  const f7 = by(7);
  assertEquals([f7.header!.typeName, f7.header!.xid, f7.cksum!.status], ["CREATE", 0, "verified"]);
  const ap = f7.payloads![0] as Record<string, unknown>;
  assertEquals((ap.ticket as Record<string, unknown>).decrypted, true);
  assertEquals((ap.ticket as Record<string, unknown>).client, "kink/a.kink.test@KINK.TEST");
  const enc = f7.payloads![1] as Record<string, unknown>;
  assertEquals([enc.name, enc.decrypted], ["KINK_ENCRYPT", true]);
  assertEquals(f7.session!.enctype, 18);
  assert(!("key" in f7.session!)); // no --show-keys
  // frame 20: REPLY with ACKREQ and Nr (3-way), its SAs use Nr
  const f20 = by(20);
  assertEquals([f20.header!.ackReq, f20.cksum!.status, f20.transaction!.commandFrame], [
    true,
    "verified",
    19,
  ]);
  assert(
    f20.sas!.length === 2 && f20.sas!.every((s) => s.usesNr && s.transformName === "ESP_3DES"),
  );
  assert(f20.sas!.every((s) => s.encKey === undefined));
  // frame 21: ACK of transaction 5
  assertEquals([by(21).header!.typeName, by(21).transaction!.role], ["ACK", "ack"]);
  // every checksum of frames 7–21 verified
  for (const m of msgs.filter((x) => x.frame <= 21)) assertEquals(m.cksum!.status, "verified");
  // frame 27: lone KRB_ERROR 44, unauthenticated
  const f27 = by(27);
  assertEquals(f27.cksum, { length: 0, status: "absent" });
  const ke = f27.payloads![0] as Record<string, unknown>;
  assertEquals([ke.errorCode, ke.errorName], [44, "KRB_AP_ERR_BADKEYVER"]);
  assert(f27.problems.some((p) => p.startsWith("unauthenticated reply")));
  // frames 26–32: the kvno-4 ticket is not decryptable with the keytabs, but A's keytab opens
  // A's AS-REP (frame 23) and through it the FAST-armored TGS-REP (frame 25) with the session key
  for (const f of [26, 28, 30, 32]) {
    const m = by(f);
    assert(m.problems.some((p) => p.includes("no key for kink/b.kink.test@KINK.TEST kvno 4")));
    assertEquals(m.cksum!.status, "verified");
    assert(String(m.session!.source).startsWith("TGS-REP in frame 25"), String(m.session!.source));
  }
});

Deno.test("kink decode --show-keys prints the sadb keys; text output names frames and SAs", async () => {
  const { code, out } = await run([PCAP, "--keytab", KT, "--show-keys"]);
  assertEquals(code, 0);
  const text = out.join("\n");
  for (const e of parseSadb("B-sadb.log")) {
    assert(text.includes(`enc=${e.encKey}`), e.encKey);
    assert(text.includes(`auth=${e.authKey}`), e.authKey);
  }
  assert(text.includes("#8 "));
  assert(text.includes("Cksum 12 octets: verified"));
  const hidden = (await run([PCAP, "--keytab", KT])).out.join("\n");
  for (const e of parseSadb("B-sadb.log")) assert(!hidden.includes(e.encKey));
});

Deno.test("kink decode: permissions are exactly the capture and the keytabs", () => {
  const args = parseCommandArgs(decodeCommand, [PCAP, "--keytab", KT, "--json"]);
  assertEquals(decodeCommand.permissions(args), [`--allow-read=${PCAP},${KT}`]);
});

Deno.test("kink decode reports a truncated datagram and goes on with the next one", async () => {
  const { analyzeCapture } = await import("../../../core/cli/decode/analyze.ts");
  const { readCapture } = await import("../../../core/wire/pcap.ts");
  const file = Deno.readFileSync(PCAP);
  const pk = readCapture(file);
  // Rewrite the capture with frame 7 cut to 300 of its 892 octets (as with a small snaplen).
  const parts: Uint8Array[] = [file.subarray(0, 24)];
  for (const p of pk) {
    const data = p.frame === 7 ? p.data.subarray(0, 300) : p.data;
    const rec = new Uint8Array(16 + data.length);
    const v = new DataView(rec.buffer);
    v.setUint32(0, Math.floor(p.time), true);
    v.setUint32(4, Math.round((p.time % 1) * 1e6), true);
    v.setUint32(8, data.length, true);
    v.setUint32(12, p.origLength, true);
    rec.set(data, 16);
    parts.push(rec);
  }
  const total = parts.reduce((n, b) => n + b.length, 0);
  const cut = new Uint8Array(total);
  let o = 0;
  for (const b of parts) {
    cut.set(b, o);
    o += b.length;
  }
  const r = analyzeCapture(cut, { keytab: [], prf: "racoon2", showKeys: false });
  const f7 = r.messages.find((m) => m.frame === 7)!;
  assert(f7.truncated);
  assert(f7.problems.some((p) => p.startsWith("truncated datagram: 252 of 844 octets")));
  assert(f7.problems.some((p) => p.startsWith("not decodable")));
  assertEquals(r.messages.length, 21);
  assertEquals(r.messages.find((m) => m.frame === 8)!.header!.typeName, "REPLY");
});
