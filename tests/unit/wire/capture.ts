/**
 * Test helper: the KINK datagrams of the racoon2 capture
 * (tests/fixtures/racoon2/kink.pcap) and facts parsed from the kinkd and
 * sadb logs beside it.
 *
 * @module
 */
import { extractUdp, readCapture, type UdpDatagram } from "../../../core/wire/pcap.ts";
import { fromHex } from "../../../core/util/bytes.ts";

/** Path of a file in tests/fixtures/racoon2/. */
export function racoon2Path(name: string): URL {
  return new URL(`../../fixtures/racoon2/${name}`, import.meta.url);
}

/** Every UDP datagram to or from port 910 in the capture. */
export function kinkDatagrams(): UdpDatagram[] {
  const pkts = readCapture(Deno.readFileSync(racoon2Path("kink.pcap")));
  const out: UdpDatagram[] = [];
  for (const p of pkts) {
    const u = extractUdp(p);
    if ("payload" in u && (u.srcPort === 910 || u.dstPort === 910)) out.push(u);
  }
  return out;
}

/** One SA line of a *-sadb.log (`SA ADD|UPDATE …` with keys). */
export interface SadbEntry {
  op: string;
  src: string;
  dst: string;
  spi: number;
  authAlg: number;
  authKey: string;
  encAlg: number;
  encKey: string;
}

/** Parses the SA ADD/UPDATE lines (with keys) of a sadb log. */
export function parseSadb(name: string): SadbEntry[] {
  const text = Deno.readTextFileSync(racoon2Path(name));
  const out: SadbEntry[] = [];
  const re =
    /SA (ADD|UPDATE) satype=3 src (\S+) dst (\S+) spi 0x([0-9a-f]+) .*auth_alg=(\d+) auth_key=([0-9a-f]+) enc_alg=(\d+) enc_key=([0-9a-f]+)/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    out.push({
      op: m[1]!,
      src: m[2]!,
      dst: m[3]!,
      spi: parseInt(m[4]!, 16),
      authAlg: Number(m[5]),
      authKey: m[6]!,
      encAlg: Number(m[7]),
      encKey: m[8]!,
    });
  }
  return out;
}

/**
 * The complete hex dumps kinkd logged after a marker line (e.g. "KINK_ENCRYPT
 * before encryption"); dumps that the log interleaved with other lines
 * (truncated) are skipped.
 */
export function kinkdDumps(logName: string, marker: string): Uint8Array[] {
  const lines = Deno.readTextFileSync(racoon2Path(logName)).split("\n");
  const out: Uint8Array[] = [];
  const dumpLine = /0x[0-9a-f]+: ((?:[0-9a-f]{2} )+)/;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.includes(marker)) continue;
    let hex = "";
    let complete = false;
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j]!;
      const m = dumpLine.exec(line);
      if (!m) break;
      const rest = line.slice(m.index + m[0].length);
      if (/\d{4}-\d\d-\d\d/.test(rest)) break; // interleaved with another log line: truncated
      hex += m[1]!;
      if (m[1]!.trim().split(" ").length < 16) {
        complete = true;
        break;
      }
    }
    if (complete) out.push(fromHex(hex));
  }
  return out;
}
