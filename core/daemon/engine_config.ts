/**
 * From the operator's configuration (core/config) to the engine's
 * (core/engine): proposal strings to IPsec DOI transforms, durations to the
 * engine's timers, selectors to prefixes.
 *
 * @module
 */
import type {
  EngineConfig,
  PeerConfig as EnginePeer,
  ProposalConfig,
  TimerConfig,
  TransformConfig,
} from "../engine/api.ts";
import type { DaemonConfig, Integrity, PeerConfig, ProposalSpec } from "../config/mod.ts";
import { AhTransformId, AuthAlgorithm, EspTransformId } from "../wire/mod.ts";

const AUTH: Record<Integrity, number> = {
  "hmac-md5": AuthAlgorithm.HMAC_MD5,
  "hmac-sha1": AuthAlgorithm.HMAC_SHA,
  "hmac-sha2-256": AuthAlgorithm.HMAC_SHA2_256,
  "hmac-sha2-384": AuthAlgorithm.HMAC_SHA2_384,
  "hmac-sha2-512": AuthAlgorithm.HMAC_SHA2_512,
};

const AH: Record<Integrity, number> = {
  "hmac-md5": AhTransformId.AH_MD5,
  "hmac-sha1": AhTransformId.AH_SHA,
  "hmac-sha2-256": AhTransformId.AH_SHA2_256,
  "hmac-sha2-384": AhTransformId.AH_SHA2_384,
  "hmac-sha2-512": AhTransformId.AH_SHA2_512,
};

const ESP = {
  "aes-cbc": EspTransformId.ESP_AES,
  "3des-cbc": EspTransformId.ESP_3DES,
  "null": EspTransformId.ESP_NULL,
  "aes-gcm-8": EspTransformId.ESP_AES_GCM_8,
  "aes-gcm-12": EspTransformId.ESP_AES_GCM_12,
  "aes-gcm-16": EspTransformId.ESP_AES_GCM_16,
} as const;

/** One configured proposal as the engine's proposal (one transform per protocol). */
export function engineProposal(p: ProposalSpec): ProposalConfig {
  return {
    protocols: p.protocols.map((x) => {
      if (x.protocol === "ah") {
        return {
          protocol: "ah",
          transforms: [{ id: AH[x.integrity], authAlgorithm: AUTH[x.integrity] }],
        };
      }
      const t: TransformConfig = { id: ESP[x.encryption] };
      if (x.encryption === "aes-cbc" || x.encryption.startsWith("aes-gcm")) t.keyBits = x.keyBits;
      if (x.integrity !== undefined) t.authAlgorithm = AUTH[x.integrity];
      return { protocol: "esp", transforms: [t] };
    }),
  };
}

/** The whole retransmission cycle: the time a transaction may take before it fails. */
export function retransmitCycleMs(
  t: { retransmitInitialMs: number; retransmitMaxMs: number; retransmitTries: number },
): number {
  let total = 0, iv = t.retransmitInitialMs;
  for (let i = 0; i < t.retransmitTries; i++) {
    total += iv;
    iv = Math.min(iv * 2, t.retransmitMaxMs);
  }
  return total;
}

/** The engine timers of one configured peer. */
export function engineTimers(p: PeerConfig): Partial<TimerConfig> {
  const t = p.timers;
  const cycle = retransmitCycleMs(t);
  return {
    retransmitInitialMs: t.retransmitInitialMs,
    retransmitMaxMs: t.retransmitMaxMs,
    retransmitTries: t.retransmitTries,
    deadPeerIdleMs: t.deadPeerIntervalMs,
    // RFC 4430 §3.6: soft = hard − random(T-retrans … T-rekey). T-retrans is at least one full
    // retransmission cycle so the new SA is up before the old one dies; never above T-rekey.
    rekeyMarginMinMs: Math.min(cycle, t.rekeyMarginMs),
    rekeyMarginMaxMs: t.rekeyMarginMs,
    deleteGraceMs: t.deleteGraceMs,
  };
}

/**
 * The engine's view of one peer. `localAddress` is this gateway's address
 * toward it (configured, or learnt from the routing table at start);
 * `reqid` ties its SAs to the daemon's policies.
 */
export function enginePeer(p: PeerConfig, localAddress: string, reqid: number): EnginePeer {
  const out: EnginePeer = {
    name: p.name,
    address: p.addresses[0]!,
    port: p.port,
    localAddress,
    principal: p.principal,
    prf: p.prf,
    proposals: p.proposals.map(engineProposal),
    mode: p.mode,
    lifetime: p.lifetimeKilobytes > 0
      ? { seconds: p.lifetimeSeconds, kilobytes: p.lifetimeKilobytes }
      : { seconds: p.lifetimeSeconds },
    passive: p.start === "passive",
    userToUser: p.userToUser,
    reqid,
    timers: engineTimers(p),
  };
  const group = p.proposals.find((x) => x.dhGroup !== undefined)?.dhGroup;
  if (group !== undefined) {
    out.pfsGroup = group;
    out.pfsRequired = true;
  }
  if (p.traffic.length > 0) {
    out.selectors = p.traffic.map((s) => ({
      local: `${s.local.address}/${s.local.prefix}`,
      remote: `${s.remote.address}/${s.remote.prefix}`,
      proto: s.protocol,
      localPort: s.localPort,
      remotePort: s.remotePort,
    }));
  }
  return out;
}

/** The engine configuration, minus identity keys (the daemon loads those from the keytab or ccache). */
export function engineConfig(
  c: DaemonConfig,
  peers: { localAddress: string; reqid: number }[],
  epoch: number,
): Omit<EngineConfig, "identity"> & { identityPrincipal: string } {
  return {
    identityPrincipal: c.identity.principal,
    epoch,
    peers: c.peers.map((p, i) => enginePeer(p, peers[i]!.localAddress, peers[i]!.reqid)),
  };
}
