/**
 * KINK wire-format benchmarks on real racoon2 traffic, each next to the cost
 * of the crypto alone in the same run (`baseline`):
 *
 * - receive a CREATE (frame 7): decode + Cksum verify + KINK_ENCRYPT open,
 *   vs. verify_mic over the same octets + decrypt of the same ciphertext;
 * - send a REPLY (like frame 8): build + seal + checksum, vs. encrypt of
 *   the same plaintext + get_mic over the same length.
 *
 * @module
 */
import { extractUdp, readCapture } from "../core/wire/pcap.ts";
import { decodeKinkMessage, openEncryptPayload, verifyKinkChecksum } from "../core/wire/kink.ts";
import { buildReply } from "../core/wire/builders.ts";
import { keyOps } from "../core/wire/session.ts";
import { decrypt, encrypt, getMic, Key, verifyMic } from "../core/crypto/mod.ts";
import { fromHex, toHex } from "../core/util/bytes.ts";
import { attributeValue, type IsakmpPayload } from "../core/wire/isakmp.ts";
import { keep } from "./keep.ts";

const frames = new Map<number, Uint8Array>();
for (
  const p of readCapture(
    Deno.readFileSync(new URL("../tests/fixtures/racoon2/kink.pcap", import.meta.url)),
  )
) {
  const u = extractUdp(p);
  if ("payload" in u && u.dstPort === 910) frames.set(u.frame, u.payload.slice());
}
// The ticket session key of frames 7–21 (tests/fixtures/racoon2/README.md; the unit tests
// recover it from the ticket with B's keytab).
const key = Key.fromBytes(
  18,
  fromHex("67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90"),
);
const ops = keyOps(key);
const create = frames.get(7)!;
const createMsg = decodeKinkMessage(create).message;
const createEnc = createMsg.payloads[1]!;
if (createEnc.kind !== "encrypt") throw new Error("frame 7 has no KINK_ENCRYPT");
const createCt = createEnc.ciphertext!;
const signedLen = create.length - 12;
const reply = decodeKinkMessage(frames.get(8)!).message;
const apRepP = reply.payloads[0]!;
if (apRepP.kind !== "ap-rep") throw new Error("frame 8 has no AP-REP");
const replyInner = openEncryptPayload(
  (reply.payloads[1] as { ciphertext: Uint8Array }).ciphertext,
  1,
  ops,
);
const qm = (replyInner[0] as { payloads: IsakmpPayload[] }).payloads;
const replyPt = decrypt(key, 39, (reply.payloads[1] as { ciphertext: Uint8Array }).ciphertext);
const replyLen = frames.get(8)!.length - 12;

Deno.bench({
  name: "crypto only: verify_mic(832 octets) + decrypt(136)",
  group: "receive CREATE",
  baseline: true,
  fn() {
    keep(verifyMic(key, 40, create.subarray(0, signedLen), create.subarray(signedLen)));
    keep(decrypt(key, 39, createCt));
  },
});

Deno.bench({
  name: "decode + Cksum verify + KINK_ENCRYPT open (frame 7)",
  group: "receive CREATE",
  fn() {
    const m = decodeKinkMessage(create).message;
    if (!verifyKinkChecksum(create, ops)) throw new Error("Cksum");
    const e = m.payloads[1]!;
    if (e.kind === "encrypt") keep(openEncryptPayload(e.ciphertext!, m.doi, ops).length);
  },
});

Deno.bench({
  name: "crypto only: encrypt(80) + get_mic(208 octets)",
  group: "send REPLY",
  baseline: true,
  fn() {
    keep(encrypt(key, 39, replyPt));
    keep(getMic(key, 40, create.subarray(0, replyLen)));
  },
});

Deno.bench({
  name: "build + seal + checksum of a REPLY (like frame 8)",
  group: "send REPLY",
  fn() {
    keep(buildReply({
      xid: 0,
      command: 1,
      epoch: apRepP.epoch,
      apRep: apRepP.apRep,
      key: ops,
      transactions: [qm],
    }));
  },
});

// ISAKMP attribute values (issue 10 point 10): reading the longest TLV value (65535 octets)
// must cost about as much as one linear pass over it; the baseline is hex-encoding the
// same octets (one pass). Octet-by-octet BigInt shifting was quadratic (~0.4 s here).
const longAttr = new Uint8Array(65535).fill(0xa5);
Deno.bench({
  name: "one linear pass: toHex(65535 octets)",
  group: "ISAKMP attribute value",
  baseline: true,
  fn() {
    keep(toHex(longAttr).length);
  },
});
Deno.bench({
  name: "attributeValue(65535-octet TLV)",
  group: "ISAKMP attribute value",
  fn() {
    keep(attributeValue({ type: 2, value: longAttr }) === 0n);
  },
});
