/**
 * The body of `kink ticket` (declared, with its permissions, in `ticket.ts`):
 * loaded only when the command runs, so that the launcher and the other
 * subcommands do not load the Kerberos client and the crypto core.
 *
 * @module
 */
import { type CommandIO, listOpt, type ParsedArgs, stringOpt, UsageError } from "../command.ts";
import { confPath, kdcEndpoints } from "./ticket.ts";
import { readRegularFile } from "../../util/file.ts";
import { escapeControl } from "../../util/text.ts";
import { ConfigError } from "../../errors.ts";
import {
  clientOptionsFromKrb5Conf,
  type Credentials,
  describeClockOffset,
  KerberosClient,
} from "../../kerberos/client.ts";
import { enctypeName } from "../../kerberos/iana.ts";
import { KEYTAB_MAX_SIZE, type KeytabEntry, readKeytab } from "../../kerberos/keytab.ts";
import { type Krb5Conf, loadKrb5Conf, realmOfHost } from "../../kerberos/krb5conf.ts";
import {
  formatPrincipal,
  parsePrincipal,
  type Principal,
  principalEquals,
} from "../../kerberos/principal.ts";
import { formatEndpoint } from "../../kerberos/transport.ts";
import { KerberosError } from "../../kerberos/errors.ts";

/** Runs `kink ticket` with parsed arguments; resolves to its exit code. */
export async function runTicket(args: ParsedArgs, io: CommandIO): Promise<number> {
  const keytabPath = stringOpt(args, "keytab");
  const clientName = stringOpt(args, "client");
  const serviceName = stringOpt(args, "service");
  if (!keytabPath || !clientName || !serviceName) {
    throw new UsageError(
      "kink ticket: --keytab, --client and --service are required (see --help)",
    );
  }
  const confFile = confPath(args);
  const explicitKdcs = listOpt(args, "kdc");
  let conf: Krb5Conf | undefined;
  try {
    conf = await loadKrb5Conf(confFile);
  } catch (e) {
    // krb5.conf is optional when the realm is in the names and --kdc is given.
    if (!(explicitKdcs.length > 0 && e instanceof ConfigError && e.category === "io")) throw e;
  }
  const defaultRealm = conf?.libdefaults.defaultRealm;
  const popts = defaultRealm ? { defaultRealm } : {};
  const client = parsePrincipal(clientName, popts);
  const service = parseServicePrincipal(serviceName, conf, client.realm);
  const kdcs = kdcEndpoints(args, conf) ?? [];
  const wanted = new Set([client.realm, service.realm]);
  if (service.realm !== client.realm) {
    throw new KerberosError(
      "unsupported",
      "kink ticket",
      `the service is in realm ${service.realm}, the client in ${client.realm}; cross-realm is not supported`,
    );
  }
  if (kdcs.length === 0) {
    throw new ConfigError(
      "missing",
      confFile,
      `no kdc listed for realm ${[...wanted].join(", ")} in [realms]; add one or pass --kdc`,
    );
  }

  let keytab: KeytabEntry[];
  let raw: Uint8Array | undefined;
  try {
    raw = readRegularFile(keytabPath, "keytab", KEYTAB_MAX_SIZE);
    keytab = readKeytab(raw);
  } catch (e) {
    if (e instanceof KerberosError) {
      throw new KerberosError(e.category, `keytab ${keytabPath}`, e.message);
    }
    const d = e instanceof ConfigError ? e.detail : (e as Error).message;
    throw new ConfigError("io", `keytab ${keytabPath}`, `cannot read: ${d}`, { cause: e });
  } finally {
    raw?.fill(0);
  }
  const mine = keytab.filter((e) => principalEquals(e.principal, client));
  if (mine.length === 0) {
    const held = [...new Set(keytab.map((e) => formatPrincipal(e.principal)))];
    throw new KerberosError(
      "not-found",
      `keytab ${keytabPath}`,
      `holds no key for ${formatPrincipal(client)}${
        held.length ? ` (it holds ${held.join(", ")})` : " (it is empty)"
      }: check --client or export the keys (kadmin ktadd)`,
    );
  }
  io.out(`client   ${formatPrincipal(client)}`);
  io.out(
    `keytab   ${escapeControl(keytabPath)}: ${
      mine.map((e) => `kvno ${e.kvno} ${enctypeName(e.enctype)}`).join(", ")
    }`,
  );
  io.out(
    `KDCs     ${
      kdcs.map((k) => (k.protocol === "tcp" ? "tcp/" : "") + formatEndpoint(k)).join(", ")
    }`,
  );

  const ld = conf?.libdefaults;
  const base = conf ? clientOptionsFromKrb5Conf(conf) : { kdcs: () => kdcs };
  const kc = new KerberosClient(client, { keytab }, { ...base, kdcs: () => kdcs });
  try {
    const tgt = await kc.getTgt();
    io.out(`TGT      ${describeCreds(tgt)}`);
    const skewS = ld?.clockskew ?? 300;
    const offset = kc.clockOffsetMs;
    io.out(`clock    ${describeClockOffset(offset, 1000)} (measured from the KDC's reply, ±1 s)`);
    if (Math.abs(offset) > skewS * 1000) {
      throw new KerberosError(
        "skew",
        "kink ticket",
        `our clock is ${describeClockOffset(offset)}, more than the allowed skew of ${skewS} s: ` +
          "peers will refuse our authenticators — fix the system time (NTP)",
      );
    }
    const st = await kc.getServiceTicket(service);
    io.out(`service  ${describeCreds(st)}`);
    const ccache = stringOpt(args, "ccache");
    if (ccache) {
      await kc.saveCcache(ccache);
      io.out(`ccache   ${escapeControl(ccache)} written (klist -c ${escapeControl(ccache)})`);
    }
    return 0;
  } finally {
    kc.dispose();
    for (const e of keytab) e.key.fill(0);
  }
}

function parseServicePrincipal(
  name: string,
  conf: Krb5Conf | undefined,
  fallback: string,
): Principal {
  const hasRealm = /(^|[^\\])@/.test(name);
  if (hasRealm) return parsePrincipal(name);
  // kink/<host> without a realm: [domain_realm] of the host, else the client's realm.
  const host = name.split("/")[1];
  const realm = (host && conf ? realmOfHost(conf, host) : undefined) ?? fallback;
  return parsePrincipal(name, { defaultRealm: realm });
}

function describeCreds(c: Credentials): string {
  const t = c.ticket.encPart;
  const lines = [
    `${formatPrincipal(c.server)}`,
    `  session key ${enctypeName(c.sessionKey.enctype)}, ticket ${enctypeName(t.etype)}${
      t.kvno === undefined ? "" : ` (service kvno ${t.kvno})`
    }`,
    `  valid ${(c.starttime ?? c.authtime).toISOString()} until ${c.endtime.toISOString()}${
      c.renewTill ? `, renewable until ${c.renewTill.toISOString()}` : ""
    }`,
  ];
  return lines.join("\n         ");
}
