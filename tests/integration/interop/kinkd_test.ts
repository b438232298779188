/**
 * The interop matrix, live: racoon2's kinkd (with its PF_KEY stand-in) and
 * kink's engine (EngineDriver, real UDP, in-memory kernel) in two network
 * namespaces with a real MIT KDC. In every cell where SAs come up, both
 * sides' SAs are compared: SPI, algorithm and keys — kinkd's from the
 * stand-in's sadb.log, kink's from its kernel.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  ALPHA_REALM,
  blackhole,
  ESP_3DES_SHA1,
  ESP_AES128_SHA1,
  KINK_REALM,
  KINKD,
  type Kinkd,
  KINKD_REALM,
  type KinkdOptions,
  kinkdSa,
  kinkdSkipReason,
  type KinkNode,
  PFKEY_AUTH,
  PFKEY_ENC,
  waitFor,
  withKinkd,
  withKinkPair,
} from "./kinkd_harness.ts";
import { realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import { sleep } from "../../harness/exec.ts";
import { heimdalSkipReason } from "../../harness/heimdal_realm.ts";
import type { EngineEvent, ProposalConfig } from "../../../core/engine/mod.ts";

const skip = [kinkdSkipReason(), realmSkipReason()];

type SaUp = Extract<EngineEvent, { type: "sa-up" }>;
type SaDown = Extract<EngineEvent, { type: "sa-down" }>;
type Failed = Extract<EngineEvent, { type: "exchange-failed" }>;
const isSaUp = (e: EngineEvent): e is SaUp => e.type === "sa-up";

/** kink's usual offer: AES-128-CBC first, then 3DES, both with HMAC-SHA1. */
const OFFER: ProposalConfig[] = [
  { protocols: [{ protocol: "esp", transforms: [ESP_AES128_SHA1, ESP_3DES_SHA1] }] },
];

/**
 * Both SAs of the pair `up` equal on both sides: for each direction, kink's SA
 * (in its kernel) and kinkd's (its last keying in sadb.log) have the same SPI,
 * addresses, algorithms and keys. Returns the algorithms seen.
 */
async function sameSas(kink: KinkNode, kinkd: Kinkd, up: SaUp): Promise<string[]> {
  const mine = await kink.sas();
  const spis = [...up.inbound, ...up.outbound].map((s) => s.spi);
  // kinkd logs its outbound SA (ADD) only when it has everything: wait for both.
  const theirs = await waitFor(
    "kinkd's SAs in sadb.log",
    async () => {
      const sas = await kinkd.sas();
      return spis.every((spi) => kinkdSa(sas, spi)) ? sas : undefined;
    },
  );
  const algs: string[] = [];
  for (const spi of spis) {
    const k = mine.find((s) => s.spi === spi);
    const d = kinkdSa(theirs, spi)!;
    assert(k, `kink has no SA with SPI 0x${spi.toString(16)}`);
    assertEquals({ src: k.src, dst: k.dst }, { src: d.src, dst: d.dst });
    assertEquals(k.enc?.name, PFKEY_ENC[d.encAlg!], `cipher of SA 0x${spi.toString(16)}`);
    assertEquals(k.auth?.name, PFKEY_AUTH[d.authAlg!], `integrity of SA 0x${spi.toString(16)}`);
    assertEquals(k.enc?.key, d.encKey, `encryption key of SA 0x${spi.toString(16)}`);
    assertEquals(k.auth?.key, d.authKey, `integrity key of SA 0x${spi.toString(16)}`);
    algs.push(`${k.enc?.name}+${k.auth?.name}`);
  }
  const inbound = up.inbound[0]!.spi, outbound = up.outbound[0]!.spi;
  assertEquals(mine.find((s) => s.spi === inbound)?.dst, kink.address);
  assertEquals(mine.find((s) => s.spi === outbound)?.dst, kinkd.address);
  return algs;
}

/** Timers that keep the cells short: quick grace before the inbound SA goes, fewer tries. */
const FAST = { deleteGraceMs: 300 };

/** The usual peer entry (kink's for kinkd, and each kink's in the pairs): offer, transport, short timers. */
const USUAL_PEER: KinkdOptions["peer"] = { proposals: OFFER, mode: "transport", timers: FAST };
/** kinkd only answers (`responder` template); kink initiates. */
const KINKD_RESPONDS: KinkdOptions = { template: "responder", peer: USUAL_PEER };
/** kinkd initiates (`initiator` template); kink only answers (passive: no crossing CREATE). */
const KINKD_INITIATES: KinkdOptions = {
  template: "initiator",
  peer: { ...USUAL_PEER, passive: true },
};

/** The sa-down of the pair whose inbound SPI is `spi`. */
const downOf = (spi: number) => (e: EngineEvent): e is SaDown =>
  e.type === "sa-down" && e.inbound[0]?.spi === spi;

const hex = (spi: number) => `0x${spi.toString(16).padStart(8, "0")}`;

/** kink's kernel holds no SA any more (waits for the delete grace). */
async function kinkEmpty(kink: KinkNode): Promise<void> {
  await waitFor("kink's kernel to hold no SA", async () => {
    const sas = await kink.sas();
    return sas.length === 0 ? true : undefined;
  });
}

/** kinkd's stand-in logged an SADB_DELETE of every SPI given (its inbound one ~10 s later). */
async function kinkdDeleted(kinkd: Kinkd, spis: number[]): Promise<void> {
  await waitFor(
    `kinkd to delete SAs ${spis.map(hex).join(", ")}`,
    async () => {
      const sas = await kinkd.sas();
      return spis.every((spi) => sas.some((s) => s.op === "DELETE" && s.spi === spi))
        ? true
        : undefined;
    },
    20_000,
  );
}

/** How many times kinkd logged `text`. */
async function kinkdSaw(kinkd: Kinkd, text: string): Promise<number> {
  return (await kinkd.log()).split("\n").filter((l) => l.includes(text)).length;
}

Deno.test({
  ...skipUnless(
    "kinkd responder: kink initiates CREATE (optimistic), STATUS both ways, DELETE from kink",
    ...skip,
  ),
  fn: async (t) => {
    await withKinkd(
      KINKD_RESPONDS,
      async ({ kinkd, kink }) => {
        let up!: SaUp;
        await t.step("kink → kinkd optimistic CREATE: equal SAs", async () => {
          await kink.cmd({ cmd: "up", peer: KINKD });
          up = await kink.waitEvent("sa-up", isSaUp);
          assert(up.initiator && up.optimistic, JSON.stringify(up));
          const algs = await sameSas(kink, kinkd, up);
          assertEquals(algs, ["cbc(aes)+hmac(sha1)", "cbc(aes)+hmac(sha1)"]);
        });
        await t.step("STATUS from kink: kinkd answers, kink learns its epoch", async () => {
          await kink.cmd({ cmd: "status", peer: KINKD });
          const st = await waitFor("STATUS to finish", async () => {
            const s = await kink.status();
            return s.transactions.length === 0 && s.peers[0]?.peerEpoch !== undefined
              ? s
              : undefined;
          });
          assertEquals(st.peers[0]?.state, "alive");
          assert((await kinkdSaw(kinkd, "STATUS received from")) >= 1);
          assert(!kink.events.some((e) => e.type === "exchange-failed"), "an exchange failed");
        });
        await t.step("STATUS from kinkd: kink answers it", async () => {
          await kinkd.ctl("status");
          await waitFor(
            "kinkd to see the REPLY to its STATUS",
            async () => (await kinkdSaw(kinkd, "REPLY-to-STATUS received")) >= 1 ? true : undefined,
          );
        });
        await t.step("DELETE from kink: both sides remove both SAs", async () => {
          await kink.cmd({ cmd: "down", peer: KINKD });
          const down = await kink.waitEvent(
            "sa-down",
            (e): e is SaDown => e.type === "sa-down",
          );
          assertEquals(down.reason, "deleted");
          // kink's sa-down comes when it sends the DELETE (its outbound SA goes at once): wait
          // for kinkd to log its arrival.
          await waitFor(
            "kinkd to receive the DELETE",
            async () => (await kinkdSaw(kinkd, "DELETE received from")) >= 1 ? true : undefined,
          );
          await kinkEmpty(kink);
          await kinkdDeleted(kinkd, [up.inbound[0]!.spi, up.outbound[0]!.spi]);
          assert(!kink.events.some((e) => e.type === "exchange-failed"), "an exchange failed");
        });
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kinkd initiator: kinkd initiates CREATE (optimistic) on ACQUIRE, DELETE from kinkd",
    ...skip,
  ),
  fn: async (t) => {
    await withKinkd(
      KINKD_INITIATES,
      async ({ kinkd, kink }) => {
        let up!: SaUp;
        await t.step("kinkd → kink optimistic CREATE: equal SAs", async () => {
          await kinkd.ctl("acquire", kinkd.address, kink.address);
          up = await kink.waitEvent("sa-up", isSaUp);
          assert(!up.initiator && up.optimistic, JSON.stringify(up));
          const algs = await sameSas(kink, kinkd, up);
          assertEquals(algs, ["cbc(aes)+hmac(sha1)", "cbc(aes)+hmac(sha1)"]);
        });
        await t.step("DELETE from kinkd: kink removes both SAs", async () => {
          // kinkd's outbound SA is kink's inbound one.
          await kinkd.ctl("delete", kinkd.address, kink.address, hex(up.inbound[0]!.spi));
          const down = await kink.waitEvent(
            "sa-down",
            (e): e is SaDown => e.type === "sa-down",
          );
          assertEquals(down.reason, "deleted-by-peer");
          await kinkEmpty(kink);
          await kinkdDeleted(kinkd, [up.inbound[0]!.spi, up.outbound[0]!.spi]);
        });
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kinkd 3DES-only responder: kink's CREATE becomes 3-way (REPLY with ACKREQ + Nr, ACK)",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      { ...KINKD_RESPONDS, template: "responder-3des" },
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const up = await kink.waitEvent("sa-up", isSaUp);
        assert(up.initiator && !up.optimistic, JSON.stringify(up));
        const algs = await sameSas(kink, kinkd, up);
        assertEquals(algs, ["cbc(des3_ede)+hmac(sha1)", "cbc(des3_ede)+hmac(sha1)"]);
        assert((await kinkdSaw(kinkd, "ACK received from")) >= 1, "kinkd saw no ACK");
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kink 3DES-only responder: kinkd's CREATE becomes 3-way; kinkd re-keys its inbound SA",
    ...skip,
  ),
  fn: async () => {
    const only3des: ProposalConfig[] = [
      { protocols: [{ protocol: "esp", transforms: [ESP_3DES_SHA1] }] },
    ];
    await withKinkd(
      {
        ...KINKD_INITIATES,
        peer: { ...KINKD_INITIATES.peer, proposals: only3des },
      },
      async ({ kinkd, kink }) => {
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const up = await kink.waitEvent("sa-up", isSaUp);
        assert(!up.initiator && !up.optimistic, JSON.stringify(up));
        // kinkd keyed its inbound SA optimistically (AES, no Nr) before sending, then re-keyed it
        // with a second UPDATE (3DES, with Nr): the stand-in logs both; the last one must equal
        // kink's outbound SA. (On a real Linux kernel that second UPDATE is ignored — kinkd's
        // bug, ../shared/interop/racoon2/peer/README.md — which is not kink's to fix.)
        const algs = await sameSas(kink, kinkd, up);
        assertEquals(algs, ["cbc(des3_ede)+hmac(sha1)", "cbc(des3_ede)+hmac(sha1)"]);
        const updates = (await kinkd.sas()).filter((s) =>
          s.op === "UPDATE" && s.spi === up.outbound[0]!.spi
        );
        assertEquals(updates.map((u) => PFKEY_ENC[u.encAlg!]), ["cbc(aes)", "cbc(des3_ede)"]);
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kinkd and an aes-sha2 session key: kinkd drops the CREATE, kink gives up with a per-peer reason",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      {
        ...KINKD_RESPONDS,
        enctypes: "aes-sha2",
        peer: { ...USUAL_PEER, timers: { ...FAST, retransmitInitialMs: 250, retransmitTries: 3 } },
      },
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const failed = await kink.waitEvent(
          "exchange-failed",
          (e): e is Failed => e.type === "exchange-failed",
          30_000,
        );
        assertEquals(failed.command, "CREATE");
        assertEquals(failed.reason, "timeout");
        // kink knows its session key's enctype and heard nothing at all: it names kinkd's limit.
        assert(
          failed.detail.startsWith(
            "no REPLY after 3 transmissions, none answered; the ticket's session key is " +
              "aes256-cts-hmac-sha384-192 (enctype 20), and racoon2's kinkd accepts only session " +
              "keys of enctypes 17/18",
          ),
          failed.detail,
        );
        // kinkd's reason, in its log only: its PRF table has no enctype 20.
        assert((await kinkdSaw(kinkd, "unsupported etype 20")) >= 1);
        assert((await kinkdSaw(kinkd, "failed to compute KEYMAT")) >= 1);
        // kinkd received every transmission and answered none ("failed to compute KEYMAT").
        const received = await kinkdSaw(kinkd, "CREATE received from");
        assert(received >= 3, `kinkd saw ${received} CREATEs`);
        const st = await kink.status();
        const peer = st.peers.find((p) => p.name === KINKD)!;
        assertEquals(peer.lastFailure?.reason, "timeout");
        assertEquals(peer.lastFailure?.detail, failed.detail);
        assertEquals(peer.saPairs, 0);
        assertEquals(await kink.sas(), []);
        assert(!kink.events.some(isSaUp));
        // kinkd left only the larval inbound SA of its GETSPI: nothing keyed.
        assertEquals((await kinkd.sas()).filter((s) => s.encKey !== undefined), []);
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kinkd responder: rekey from kink (new CREATE, then DELETE of the old pair)",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_RESPONDS,
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const first = await kink.waitEvent("sa-up", isSaUp);
        await kink.cmd({ cmd: "rekey", peer: KINKD });
        const second = await kink.waitEvent(
          "the rekeyed pair",
          (e): e is SaUp => isSaUp(e) && e.rekey,
        );
        assert(second.initiator);
        assert(second.inbound[0]!.spi !== first.inbound[0]!.spi);
        await sameSas(kink, kinkd, second);
        const gone = await kink.waitEvent(
          "the old pair going",
          downOf(first.inbound[0]!.spi),
        );
        assert(["rekeyed", "deleted"].includes(gone.reason), gone.reason);
        await kinkdDeleted(kinkd, [first.inbound[0]!.spi, first.outbound[0]!.spi]);
        // Only the new pair is left on kink's side.
        await waitFor("kink to hold only the new pair", async () => {
          const spis = (await kink.sas()).map((s) => s.spi).sort();
          const want = [second.inbound[0]!.spi, second.outbound[0]!.spi].sort();
          return JSON.stringify(spis) === JSON.stringify(want) ? true : undefined;
        });
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kinkd initiator: rekey from kinkd on a soft EXPIRE (new CREATE, then DELETE)",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_INITIATES,
      async ({ kinkd, kink }) => {
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const first = await kink.waitEvent("sa-up", isSaUp);
        // Soft EXPIRE of kinkd's outbound SA (kink's inbound one).
        await kinkd.ctl("expire", kinkd.address, kink.address, hex(first.inbound[0]!.spi));
        const second = await kink.waitEvent(
          "the pair of kinkd's rekey",
          (e): e is SaUp => isSaUp(e) && e.inbound[0]!.spi !== first.inbound[0]!.spi,
        );
        assert(!second.initiator && second.optimistic);
        await sameSas(kink, kinkd, second);
        const gone = await kink.waitEvent(
          "the old pair going",
          downOf(first.inbound[0]!.spi),
        );
        assertEquals(gone.reason, "deleted-by-peer");
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "retransmission: kink's first CREATE is lost, kinkd answers the rebuilt one",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_RESPONDS,
      async ({ kinkd, kink, nss }) => {
        // A STATUS first: kink then holds its ticket, so only KINK traffic is lost below.
        await kink.cmd({ cmd: "status", peer: KINKD });
        await waitFor(
          "STATUS",
          async () => (await kink.status()).transactions.length === 0 || undefined,
        );
        const restore = await blackhole(nss[1]!, kinkd.address);
        await kink.cmd({ cmd: "up", peer: KINKD });
        await waitFor("kink to send its first CREATE", async () => {
          const tx = (await kink.status()).transactions.find((t) => t.command === "CREATE");
          return tx && tx.transmissions >= 1 ? true : undefined;
        });
        await restore();
        const up = await kink.waitEvent("sa-up", isSaUp);
        await sameSas(kink, kinkd, up);
        // kinkd never saw the first copy; it answered a later one (new authenticator, same XID).
        assert((await kinkdSaw(kinkd, "CREATE received from")) >= 1);
        assert((await kink.status()).counters.retransmissions! >= 1);
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "retransmission: kinkd's first CREATE is lost, kink answers the rebuilt one",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_INITIATES,
      async ({ kinkd, kink, nss }) => {
        const restore = await blackhole(nss[0]!, kink.address);
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        await waitFor(
          "kinkd to send its first CREATE",
          async () => (await kinkdSaw(kinkd, "CREATE sent")) >= 1 ? true : undefined,
        );
        await restore();
        const up = await kink.waitEvent("sa-up", isSaUp);
        await sameSas(kink, kinkd, up);
        assert((await kinkdSaw(kinkd, "CREATE sent")) >= 2, "kinkd did not retransmit");
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "KRB_ERROR: kinkd's key rotated at the KDC — kinkd answers BADKEYVER, kink names it",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      {
        ...KINKD_RESPONDS,
        peer: { ...USUAL_PEER, timers: { ...FAST, retransmitInitialMs: 250, retransmitTries: 3 } },
      },
      async ({ mit, kinkd, kink }) => {
        // New key (kvno+1) in the KDC only: kinkd's keytab keeps the old one.
        await mit!.tool(["kadmin.local", "-q", `cpw -randkey ${kinkd.principal}`]);
        await kink.cmd({ cmd: "up", peer: KINKD });
        const failed = await kink.waitEvent(
          "exchange-failed",
          (e): e is Failed => e.type === "exchange-failed",
          30_000,
        );
        assertEquals(failed.command, "CREATE");
        // kink asked for a fresh ticket once (the key may have changed), then gave up naming it.
        assertEquals(failed.reason, "krb-error");
        assert(/KRB_AP_ERR_BADKEYVER.*fresh ticket/.test(failed.detail), failed.detail);
        assertEquals(await kink.sas(), []);
      },
    );
  },
});

/** MIT's com_err code for KRB_AP_ERR_BADKEYVER (ERROR_TABLE_BASE_krb5 + 44), as kinkd logs it. */
const MIT_BADKEYVER = -1765328384 + 44;

Deno.test({
  ...skipUnless(
    "KRB_ERROR: kink's key rotated, kinkd still holds a ticket for the old key — kink answers each CREATE with BADKEYVER and installs nothing; kinkd's fresh ticket succeeds",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_INITIATES,
      async ({ mit, kinkd, kink }) => {
        // 1. A first pair: kinkd now holds a service ticket for kink under kvno 1 (its MEMORY
        //    ccache keeps service tickets until they expire).
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const first = await kink.waitEvent("sa-up", isSaUp);
        await sameSas(kink, kinkd, first);
        // 2. kink's key rotated: a new key (kvno 2) at the KDC, and kink's keytab re-created
        //    with only that key (ktadd into a new file; MIT's ktadd into the old file would keep
        //    kvno 1 too, and nothing would fail). kink is restarted to read it.
        const keytab = mit!.keytab(kink.principal);
        for (
          const q of [
            `cpw -randkey ${kink.principal}`,
            `ktadd -k ${keytab}.new -norandkey ${kink.principal}`,
          ]
        ) {
          const r = await mit!.tool(["kadmin.local", "-q", q]);
          assert(r.success, `kadmin.local ${q}: ${r.stderr}`);
        }
        await Deno.rename(`${keytab}.new`, keytab);
        await kink.restart();
        const sadbBefore = (await kinkd.sas()).length;
        // 3. kinkd's next CREATE carries the old ticket (kvno 1).
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const xid = 1; // kinkd's second transaction since its start
        const sent = async () => await kinkdSaw(kinkd, `CREATE sent (xid=${xid})`);
        const badKeyver = async () =>
          await kinkdSaw(kinkd, `REPLY with KRB_ERROR (${MIT_BADKEYVER})`);
        const refusals = () =>
          kink.events.filter((e): e is Extract<EngineEvent, { type: "dropped" }> =>
            e.type === "dropped" && e.peer === KINKD && e.reason === "ap-req" &&
            /key version 1, the keytab holds kvno 2: the ticket predates/.test(e.detail)
          );
        // Counts on both sides: kinkd's copies and the BADKEYVERs it decoded (its log), kink's
        // refusals and the answers a per-source budget withheld (none at kinkd's pace; that
        // counter exists once the responder rate-limits unauthenticated answers).
        const counts = async () => {
          const c = (await kink.status()).counters;
          return {
            sent: await sent(),
            refused: refusals().length,
            ap44: c["ap-error-44"] ?? 0,
            answered: await badKeyver(),
            withheld: c["answers-withheld"] ?? 0,
            verdictHits: c["ticket-verdict-hits"],
          };
        };
        // At least three copies (t = 0, 1, 3 s on kinkd's schedule; not waiting for its 31 s),
        // at a moment when every copy sent has been refused by kink (on the ticket's kvno: a
        // keytab lookup, no decryption) and answered or its answer withheld.
        let last = "";
        const n = await waitFor("kinkd's copies all refused and answered", async () => {
          const n = await counts();
          last = JSON.stringify(n);
          return n.sent >= 3 && n.refused === n.sent && n.ap44 === n.sent &&
              n.answered + n.withheld === n.sent
            ? n
            : undefined;
        }).catch((e) => {
          throw new Error(`${(e as Error).message}; last counts ${last}`);
        });
        // With a front door remembering refused tickets, the copies cost only a lookup.
        if (n.verdictHits !== undefined) assertEquals(n.verdictHits, n.sent - 1);
        // kinkd's MIT library decoded each answer that went out as KRB_AP_ERR_BADKEYVER — a lone
        // KRB_ERROR, unauthenticated (kink has no key for that ticket) — and ignored it: "error
        // with unauthorized packet; transaction not aborted"; then it retransmitted.
        assert(n.answered >= 1, "kinkd received no BADKEYVER");
        assert((await kinkdSaw(kinkd, "transaction not aborted")) >= n.answered);
        // Nothing installed by kink; kinkd keyed only the inbound SA it installs before sending
        // (README of the peer package) and never its outbound one.
        assertEquals(await kink.sas(), []);
        assert(!kink.events.some(isSaUp), "kink brought a pair up");
        const after = (await kinkd.sas()).slice(sadbBefore);
        assertEquals(after.filter((s) => s.op === "ADD"), [], "kinkd added an outbound SA");
        // kinkd asked its KDC for a ticket to kink once, for the first pair: it retransmits with
        // the cached one.
        assertEquals(await kinkdSaw(kinkd, "getting Ticket for"), 1);
        // 4. kinkd's ticket is renewed only by a restart (it never drops a cached service
        //    ticket on an error): the restarted kinkd gets a new TGT and a ticket under kvno 2.
        await kinkd.restart();
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const up = await kink.waitEvent("sa-up with kinkd's fresh ticket", isSaUp);
        assert(!up.initiator, JSON.stringify(up));
        await sameSas(kink, kinkd, up);
        assertEquals(await kinkdSaw(kinkd, "getting Ticket for"), 2, "kinkd's second ticket");
        // Every AP-REQ kink refused carried the old ticket: the fresh one passed at once.
        const apRefusals = kink.events.filter((e) => e.type === "dropped" && e.reason === "ap-req");
        assertEquals(apRefusals.length, refusals().length, "kink refused the fresh ticket");
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "epoch: kinkd restarts — kink drops the SAs of its old incarnation, then negotiates anew",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_RESPONDS,
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const first = await kink.waitEvent("sa-up", isSaUp);
        await kinkd.restart();
        // The next exchange (a STATUS) carries kinkd's new EPOCH.
        await kink.cmd({ cmd: "status", peer: KINKD });
        await kink.waitEvent(
          "peer-epoch-changed",
          (e): e is Extract<EngineEvent, { type: "peer-epoch-changed" }> =>
            e.type === "peer-epoch-changed",
        );
        const down = await kink.waitEvent(
          "the old pair going",
          downOf(first.inbound[0]!.spi),
        );
        assertEquals(down.reason, "peer-restarted");
        await kinkEmpty(kink);
        await kink.cmd({ cmd: "up", peer: KINKD });
        const second = await kink.waitEvent(
          "a new pair",
          (e): e is SaUp => isSaUp(e) && e.inbound[0]!.spi !== first.inbound[0]!.spi,
        );
        await sameSas(kink, kinkd, second);
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "epoch: kink restarts — kinkd detects the new EPOCH, answers the new CREATE, deletes its old outbound SA",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_RESPONDS,
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const first = await kink.waitEvent("sa-up", isSaUp);
        await kink.restart();
        await kink.cmd({ cmd: "up", peer: KINKD });
        const second = await kink.waitEvent("sa-up after the restart", isSaUp);
        await sameSas(kink, kinkd, second);
        assert((await kinkdSaw(kinkd, "dead peer")) >= 1, "kinkd did not notice the new EPOCH");
        // kinkd deletes its outbound SA of the old pair (kink's old inbound one) at once…
        await kinkdDeleted(kinkd, [first.inbound[0]!.spi]);
        // …but never its old inbound SA (seen: still there after its usual 10 s grace) — a
        // leftover on kinkd's side only; kink holds just the new pair.
        await sleep(11_000);
        const old = first.outbound[0]!.spi;
        assert(!(await kinkd.sas()).some((s) => s.op === "DELETE" && s.spi === old));
        assertEquals(
          (await kink.sas()).map((s) => s.spi).sort(),
          [second.inbound[0]!.spi, second.outbound[0]!.spi].sort(),
        );
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "epoch: kinkd restarts and reuses XID 0 — kink answers afresh, not from its reply cache",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      KINKD_INITIATES,
      async ({ kinkd, kink }) => {
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const first = await kink.waitEvent("sa-up", isSaUp);
        assertEquals(first.xid, 0, "kinkd's first transaction after start has XID 0");
        await kinkd.restart();
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const second = await kink.waitEvent(
          "the pair of kinkd's second incarnation",
          (e): e is SaUp => isSaUp(e) && e.inbound[0]!.spi !== first.inbound[0]!.spi,
        );
        assertEquals(second.xid, 0, "kinkd reused XID 0");
        await sameSas(kink, kinkd, second);
        const down = await kink.waitEvent(
          "the old pair going",
          downOf(first.inbound[0]!.spi),
        );
        assertEquals(down.reason, "peer-restarted");
      },
    );
  },
});

const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const noFaketime = (() => {
  try {
    Deno.statSync(LIBFAKETIME);
    return undefined;
  } catch {
    return "missing libfaketime (apt-get install faketime)";
  }
})();

Deno.test({
  ...skipUnless(
    "KRB_ERROR: kinkd's clock 10 minutes ahead — kink answers KRB_AP_ERR_SKEW, kinkd corrects and retries",
    ...skip,
    noFaketime,
  ),
  fn: async () => {
    await withKinkd(
      { ...KINKD_INITIATES, kinkdEnv: { FAKETIME: "+600", KINKD_LD_PRELOAD: LIBFAKETIME } },
      async ({ kinkd, kink }) => {
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const up = await kink.waitEvent("sa-up", isSaUp, 40_000);
        await sameSas(kink, kinkd, up);
        // The first CREATE was refused for skew; the pair came from a later transaction.
        const log = await kinkd.log();
        assert(/skew/i.test(log), "kinkd logged nothing about the clock skew");
        assert(
          up.xid >= 1,
          `the pair came from XID ${up.xid}, expected a retry after the skew error`,
        );
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "KRB_ERROR: kink's clock 10 minutes ahead — kinkd answers KRB_AP_ERR_SKEW (authenticated), kink corrects and retries",
    ...skip,
  ),
  fn: async () => {
    await withKinkd(
      { ...KINKD_RESPONDS, kinkClockOffsetMs: 600_000 },
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const offset = await kink.waitEvent(
          "clock-offset",
          (e): e is Extract<EngineEvent, { type: "clock-offset" }> => e.type === "clock-offset",
        );
        assert(Math.abs(offset.offsetMs + 600_000) < 5_000, `offset ${offset.offsetMs} ms`);
        const up = await kink.waitEvent("sa-up", isSaUp, 30_000);
        await sameSas(kink, kinkd, up);
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "Heimdal KDC: kink → kinkd and kinkd → kink optimistic CREATE with Heimdal's tickets",
    ...skip,
    heimdalSkipReason(),
  ),
  fn: async () => {
    await withKinkd(
      // kinkd's initiator template (it initiates too) and kink not passive: both directions.
      { template: "initiator", kdc: "heimdal", peer: USUAL_PEER },
      async ({ realm, kinkd, kink }) => {
        assertEquals(realm.realm, "HEIMDAL.TEST");
        await kink.cmd({ cmd: "up", peer: KINKD });
        const mine = await kink.waitEvent("sa-up (kink initiating)", isSaUp);
        assert(mine.initiator);
        await sameSas(kink, kinkd, mine);
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const theirs = await kink.waitEvent(
          "sa-up (kinkd initiating)",
          (e): e is SaUp => isSaUp(e) && !e.initiator,
        );
        await sameSas(kink, kinkd, theirs);
      },
    );
  },
});

/** Whether this tree's Kerberos client follows cross-realm paths (it exports realmPath). */
const crossRealmClient = "realmPath" in await import("../../../core/kerberos/client.ts");

Deno.test({
  ...skipUnless("cross-realm: kinkd in KINKD.TEST initiates to kink in KINK.TEST", ...skip),
  fn: async () => {
    await withKinkd(
      { ...KINKD_INITIATES, crossRealm: true },
      async ({ realm, kinkRealm, kinkd, kink }) => {
        assertEquals([realm.realm, kinkRealm.realm], [KINKD_REALM, KINK_REALM]);
        await kinkd.ctl("acquire", kinkd.address, kink.address);
        const up = await kink.waitEvent("sa-up", isSaUp);
        await sameSas(kink, kinkd, up);
        // kinkd's MIT library went through krbtgt/KINK.TEST@KINKD.TEST.
        assert((await kinkd.log()).includes(`kink/kink.interop.test@${KINK_REALM}`));
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "cross-realm: kink in KINK.TEST initiates to kinkd in KINKD.TEST",
    ...skip,
    crossRealmClient
      ? undefined
      : "this tree's Kerberos client has no cross-realm path (core/kerberos/client.ts realmPath)",
  ),
  fn: async () => {
    await withKinkd(
      { ...KINKD_RESPONDS, crossRealm: true },
      async ({ kinkd, kink }) => {
        await kink.cmd({ cmd: "up", peer: KINKD });
        const up = await kink.waitEvent("sa-up", isSaUp);
        await sameSas(kink, kinkd, up);
      },
    );
  },
});

/** Both SAs of a kink ↔ kink pair equal on both sides (SPI, addresses, algorithms, keys). */
async function sameKinkSas(a: KinkNode, b: KinkNode, up: SaUp): Promise<void> {
  const [sa, sb] = [await a.sas(), await b.sas()];
  for (const spi of [...up.inbound, ...up.outbound].map((s) => s.spi)) {
    const x = sa.find((s) => s.spi === spi), y = sb.find((s) => s.spi === spi);
    assert(x && y, `SA 0x${spi.toString(16)} missing on one side`);
    assertEquals(x, y);
  }
}

Deno.test({
  ...skipUnless(
    "kink ↔ kink with Heimdal's tickets: CREATE each way, keys equal",
    ...skip,
    heimdalSkipReason(),
  ),
  fn: async () => {
    await withKinkPair(
      { kdc: "heimdal", peer: USUAL_PEER },
      async ({ a, b }) => {
        await a.cmd({ cmd: "up", peer: "b" });
        const ab = await a.waitEvent("A's pair", isSaUp);
        await sameKinkSas(a, b, ab);
        await b.cmd({ cmd: "up", peer: "a", force: true });
        const ba = await b.waitEvent("B's pair", (e): e is SaUp => isSaUp(e) && e.initiator);
        await sameKinkSas(b, a, ba);
      },
    );
  },
});

Deno.test({
  ...skipUnless(
    "kink ↔ kink cross-realm (ALPHA.TEST ↔ KINK.TEST): CREATE each way, keys equal",
    ...skip,
    crossRealmClient
      ? undefined
      : "this tree's Kerberos client has no cross-realm path (core/kerberos/client.ts realmPath)",
  ),
  fn: async () => {
    await withKinkPair(
      { kdc: "mit-cross-realm", peer: USUAL_PEER },
      async ({ a, b, realmA, realmB }) => {
        assertEquals([realmA.realm, realmB.realm], [ALPHA_REALM, KINK_REALM]);
        await a.cmd({ cmd: "up", peer: "b" });
        const ab = await a.waitEvent("A's pair", isSaUp);
        await sameKinkSas(a, b, ab);
        await b.cmd({ cmd: "up", peer: "a", force: true });
        const ba = await b.waitEvent("B's pair", (e): e is SaUp => isSaUp(e) && e.initiator);
        await sameKinkSas(b, a, ba);
      },
    );
  },
});
