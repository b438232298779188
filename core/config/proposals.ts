/**
 * Proposal strings in the style strongSwan operators know
 * (`esp-aes256-sha256`, `esp-aes128gcm16`, `ah-sha1+esp-aes128`,
 * `esp-aes128-sha1-modp2048`), parsed into structured IPsec proposals.
 *
 * @module
 */

/** ESP encryption transforms kink negotiates (IPsec DOI names in comments). */
export type EspEncryption =
  | "aes-cbc" // ESP_AES (12)
  | "3des-cbc" // ESP_3DES (3)
  | "aes-gcm-8" // ESP_AES_GCM_8 (18)
  | "aes-gcm-12" // ESP_AES_GCM_12 (19)
  | "aes-gcm-16" // ESP_AES_GCM_16 (20)
  | "null"; // ESP_NULL (11)

/** Integrity algorithms (HMAC, truncated as RFC 2404/4868 say). */
export type Integrity =
  | "hmac-md5"
  | "hmac-sha1"
  | "hmac-sha2-256"
  | "hmac-sha2-384"
  | "hmac-sha2-512";

/** Diffie-Hellman groups for PFS (KE payload). */
export type DhGroup = 14 | 19;

/** ESP part of a proposal. */
export interface EspSpec {
  /** Always `"esp"`. */
  protocol: "esp";
  /** Encryption transform. */
  encryption: EspEncryption;
  /** Key length in bits (AES: 128, 192 or 256; 3DES: 192; NULL: 0). */
  keyBits: number;
  /** Integrity algorithm; absent for AEAD, or for ESP bundled under AH. */
  integrity?: Integrity;
}

/** AH part of a proposal. */
export interface AhSpec {
  /** Always `"ah"`. */
  protocol: "ah";
  /** Integrity algorithm. */
  integrity: Integrity;
}

/** One proposal: a protocol or a bundle (AH first, then ESP), with an optional PFS group. */
export interface ProposalSpec {
  /** The text the operator wrote. */
  text: string;
  /** Protocols of the bundle, in the order AH, ESP. */
  protocols: (AhSpec | EspSpec)[];
  /** PFS group, if the proposal asks for one. */
  dhGroup?: DhGroup;
}

const INTEGRITY: Record<string, Integrity> = {
  md5: "hmac-md5",
  sha1: "hmac-sha1",
  sha256: "hmac-sha2-256",
  sha2_256: "hmac-sha2-256",
  sha384: "hmac-sha2-384",
  sha2_384: "hmac-sha2-384",
  sha512: "hmac-sha2-512",
  sha2_512: "hmac-sha2-512",
};

const DH: Record<string, DhGroup> = { modp2048: 14, ecp256: 19 };

const ENC: Record<string, { encryption: EspEncryption; keyBits: number }> = {
  aes: { encryption: "aes-cbc", keyBits: 128 },
  aes128: { encryption: "aes-cbc", keyBits: 128 },
  aes192: { encryption: "aes-cbc", keyBits: 192 },
  aes256: { encryption: "aes-cbc", keyBits: 256 },
  "3des": { encryption: "3des-cbc", keyBits: 192 },
  null: { encryption: "null", keyBits: 0 },
};

function gcm(tok: string): { encryption: EspEncryption; keyBits: number } | undefined {
  const m = /^aes(128|192|256)gcm(8|12|16)$/.exec(tok);
  if (!m) return undefined;
  return { encryption: `aes-gcm-${m[2]}` as EspEncryption, keyBits: Number(m[1]) };
}

/** Every accepted token, for error messages. */
export const PROPOSAL_SYNTAX: string =
  "PROTO[-ALG…][+PROTO…][-DHGROUP]: esp-{aes128,aes192,aes256,3des,null}-{md5,sha1,sha256,sha384,sha512}, " +
  "esp-aes{128,192,256}gcm{8,12,16}, ah-{sha1,sha256,…}, ah-sha256+esp-aes128, …-{modp2048,ecp256}";

/**
 * Parses one proposal string; returns a description of the problem instead
 * of throwing so the caller can attach file, line and key.
 */
export function parseProposal(text: string): ProposalSpec | string {
  const t = text.trim().toLowerCase();
  if (t === "") return "empty proposal";
  const parts = t.split("+");
  const protocols: (AhSpec | EspSpec)[] = [];
  let dhGroup: DhGroup | undefined;
  for (const [pi, part] of parts.entries()) {
    const toks = part.split("-");
    const proto = toks.shift();
    const rest: string[] = [];
    for (const tok of toks) {
      const g = DH[tok];
      if (g !== undefined) {
        if (pi !== parts.length - 1) return `DH group "${tok}" must come last`;
        if (dhGroup !== undefined && dhGroup !== g) return "two different DH groups";
        dhGroup = g;
      } else rest.push(tok);
    }
    if (proto === "ah") {
      if (rest.length !== 1) return `AH takes exactly one integrity algorithm in "${part}"`;
      const integ = INTEGRITY[rest[0]!];
      if (!integ) return `unknown integrity algorithm "${rest[0]}"`;
      if (protocols.some((p) => p.protocol === "ah")) return "AH twice in one bundle";
      if (protocols.length > 0) return "AH must come before ESP in a bundle (ah-…+esp-…)";
      protocols.push({ protocol: "ah", integrity: integ });
    } else if (proto === "esp") {
      if (protocols.some((p) => p.protocol === "esp")) return "ESP twice in one bundle";
      const encTok = rest.shift();
      if (encTok === undefined) return `ESP needs an encryption algorithm in "${part}"`;
      const enc = ENC[encTok] ?? gcm(encTok);
      if (!enc) return `unknown ESP encryption algorithm "${encTok}"`;
      const esp: EspSpec = { protocol: "esp", ...enc };
      const isAead = enc.encryption.startsWith("aes-gcm");
      if (rest.length > 1) return `too many algorithms in "${part}"`;
      if (rest.length === 1) {
        const integ = INTEGRITY[rest[0]!];
        if (!integ) return `unknown integrity algorithm "${rest[0]}"`;
        if (isAead) return `${encTok} is an AEAD: it takes no integrity algorithm`;
        esp.integrity = integ;
      }
      const underAh = protocols.some((p) => p.protocol === "ah");
      if (!isAead && esp.integrity === undefined && !underAh) {
        return `ESP without integrity ("${part}") is only allowed under AH (ah-…+esp-…)`;
      }
      if (enc.encryption === "null" && esp.integrity === undefined && !underAh) {
        return "ESP NULL without integrity protects nothing";
      }
      protocols.push(esp);
    } else {
      return `unknown protocol "${proto ?? ""}" (expected esp or ah)`;
    }
  }
  const out: ProposalSpec = { text, protocols };
  if (dhGroup !== undefined) out.dhGroup = dhGroup;
  return out;
}
