/**
 * Several throwaway MIT realms that trust each other, for cross-realm tests.
 *
 * {@link withRealms} starts one KDC per realm ({@link startRealm}), then for
 * every trust `[X, Y]` creates `krbtgt/Y@X` with the same password — hence the
 * same keys, the salt being `X` + `krbtgt` + `Y` in both databases — in X's
 * and in Y's database (X's clients may then use Y's services). A trust is one
 * direction: list `[Y, X]` as well for the reverse. `krb5ConfExtra` of a realm
 * (e.g. `[capaths]` or `[domain_realm]` for the KDC's own path finding and
 * referrals) is written before its KDC starts. {@link Realms.krb5Conf} is one
 * client krb5.conf listing every realm's KDC (and `clientConf` extra text).
 *
 * @module
 */
import { type Realm, type RealmOptions, startRealm } from "./krb5_realm.ts";
import { tempRoot, uniqueName } from "./cleanup.ts";

/** Running realms that trust each other. */
export interface Realms {
  /** The realms by name. */
  readonly byName: ReadonlyMap<string, Realm>;
  /** A realm by name (throws if unknown). */
  get(name: string): Realm;
  /** Path of a client krb5.conf naming every realm's KDC. */
  readonly krb5Conf: string;
}

/** Options of {@link withRealms}. */
export interface RealmsOptions {
  /** One entry per realm (`realm` required). */
  realms: (RealmOptions & { realm: string })[];
  /** Trusts `[X, Y]`: `krbtgt/Y@X` in both realms. */
  trusts: [string, string][];
  /** Extra text of the combined client krb5.conf (e.g. `[capaths]`). */
  clientConf?: string;
}

/** Starts the realms, creates the cross-realm keys, runs `fn`, stops everything. */
export async function withRealms<T>(
  opts: RealmsOptions,
  fn: (realms: Realms) => Promise<T>,
): Promise<T> {
  const started: Realm[] = [];
  const dir = await Deno.makeTempDir({ dir: tempRoot(), prefix: `${uniqueName("realms")}-` });
  try {
    for (const r of opts.realms) started.push(await startRealm(r));
    const byName = new Map(started.map((r) => [r.realm, r]));
    const get = (n: string): Realm => {
      const r = byName.get(n);
      if (r === undefined) throw new Error(`withRealms: no realm ${n}`);
      return r;
    };
    for (const [x, y] of opts.trusts) {
      const name = `krbtgt/${y}@${x}`;
      const password = `cross-realm ${x} to ${y}`;
      await get(x).addPrincipal(name, password);
      await get(y).addPrincipal(name, password);
    }
    const krb5Conf = `${dir}/krb5.conf`;
    const first = started[0]!;
    await Deno.writeTextFile(
      krb5Conf,
      [
        "[libdefaults]",
        ` default_realm = ${first.realm}`,
        " dns_lookup_kdc = false",
        " dns_lookup_realm = false",
        " rdns = false",
        "",
        "[realms]",
        ...started.flatMap((r) => [` ${r.realm} = {`, `  kdc = ${r.kdc.host}:${r.kdc.port}`, " }"]),
        "",
        opts.clientConf ?? "",
      ].join("\n"),
    );
    return await fn({ byName, get, krb5Conf });
  } finally {
    for (const r of started.reverse()) await r.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
