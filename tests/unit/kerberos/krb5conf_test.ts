/** krb5.conf parsing: MIT profile syntax, the settings kink uses, line-precise errors. */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { ConfigError } from "../../../core/errors.ts";
import {
  loadKrb5Conf,
  parseDuration,
  parseKrb5Conf,
  realmOfHost,
} from "../../../core/kerberos/krb5conf.ts";

const SAMPLE = `# krb5.conf as MIT's documentation lays it out
[libdefaults]
    default_realm = KINK.TEST
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts
    default_tgs_enctypes = aes256-sha2, aes128-sha2 DEFAULT -camellia
    permitted_enctypes = aes des3-cbc-sha1 -aes128-sha1 frobnicate
    clockskew = 2m
    udp_preference_limit = 1
    kdc_timeout = 3s
    dns_lookup_kdc = false
; a comment of the other kind

[realms]
    KINK.TEST = {
        kdc = kdc1.kink.test
        kdc = kdc2.kink.test:8888
        kdc = [fd00::88]:750
        kdc = tcp/10.0.0.1
        admin_server = kdc1.kink.test
        default_domain = kink.test
        auth_to_local = {
            nested = "a \\"quoted\\" value"
        }
    }
    OTHER.TEST = {
        kdc = 127.0.0.1:10088
    }*

[domain_realm]
    .kink.test = KINK.TEST
    kink.test = KINK.TEST
    gw.other.test = OTHER.TEST

[capaths]
`;

Deno.test("krb5.conf: the settings kink uses", () => {
  const c = parseKrb5Conf(SAMPLE);
  deepStrictEqual(c.libdefaults, {
    defaultRealm: "KINK.TEST",
    defaultTktEnctypes: [18, 17],
    defaultTgsEnctypes: [20, 19, 18, 17],
    permittedEnctypes: [18, 20, 19, 16],
    clockskew: 120,
    udpPreferenceLimit: 1,
    kdcTimeoutMs: 3000,
  });
  deepStrictEqual(c.warnings, ["krb5.conf line 6: unknown enctype 'frobnicate' ignored"]);
  deepStrictEqual(c.realms.get("KINK.TEST"), {
    kdc: ["kdc1.kink.test", "kdc2.kink.test:8888", "[fd00::88]:750", "tcp/10.0.0.1"],
    adminServer: ["kdc1.kink.test"],
    defaultDomain: "kink.test",
  });
  deepStrictEqual(c.realms.get("OTHER.TEST")!.kdc, ["127.0.0.1:10088"]);
  strictEqual(realmOfHost(c, "gw1.kink.test"), "KINK.TEST");
  strictEqual(realmOfHost(c, "KINK.TEST"), "KINK.TEST");
  strictEqual(realmOfHost(c, "gw.other.test"), "OTHER.TEST");
  strictEqual(realmOfHost(c, "x.other.test"), undefined);
  // generic tree keeps the rest
  const at = c.sections.get("realms")!.get("KINK.TEST")![0]!.value as Map<string, unknown>;
  const nested = (at.get("auth_to_local") as { value: Map<string, { value: string }[]> }[])[0]!
    .value.get("nested")![0]!.value;
  strictEqual(nested, 'a "quoted" value');
  strictEqual(c.sections.get("libdefaults")!.get("dns_lookup_kdc")![0]!.value, "false");
  deepStrictEqual([...c.sections.keys()], ["libdefaults", "realms", "domain_realm", "capaths"]);
});

Deno.test("krb5.conf: durations as MIT writes them", () => {
  strictEqual(parseDuration("300"), 300);
  strictEqual(parseDuration("5m"), 300);
  strictEqual(parseDuration("1h30m"), 5400);
  strictEqual(parseDuration("1d 2h"), 93600);
  strictEqual(parseDuration("1:30"), 5400);
  strictEqual(parseDuration("0:05:00"), 300);
  strictEqual(parseDuration("5 minutes"), undefined);
  strictEqual(parseDuration(""), undefined);
  strictEqual(parseDuration("1:75"), undefined);
});

function fails(text: string, message: string) {
  throws(() => parseKrb5Conf(text), (e) => {
    if (!(e instanceof ConfigError)) return false;
    strictEqual(e.message, message);
    return true;
  });
}

Deno.test("krb5.conf: errors name the line", () => {
  fails(
    "[libdefaults]\n\n# c\n\n\n\n default_realm KINK.TEST\n",
    "krb5.conf line 7: expected '=' after key",
  );
  // Found by the fuzzer: a line that starts with '=' or holds a line separator.
  fails("[libdefaults]\n = KINK.TEST\n", "krb5.conf line 2: expected a key before '='");
  fails("[realms]\n R = {\x1f\r x\n", "krb5.conf line 2: realm 'R' must be followed by '= {'");
  fails("default_realm = X\n", "krb5.conf line 1: relation 'default_realm' before any [section]");
  fails("[libdefaults\n", "krb5.conf line 1: expected ']' after section name");
  fails("[realms]\n R = {\n kdc = a\n", "krb5.conf line 2: '{' is never closed");
  fails("[realms]\n}\n", "krb5.conf line 2: '}' without a matching '{'");
  fails(
    "[realms]\n R = {\n[libdefaults]\n",
    "krb5.conf line 3: section header inside '{' opened at line 2",
  );
  fails(
    "[libdefaults]\n clockskew = soon\n",
    "krb5.conf line 2: clockskew 'soon' is not a duration",
  );
  fails(
    "[libdefaults]\n udp_preference_limit = big\n",
    "krb5.conf line 2: udp_preference_limit 'big' is not a number",
  );
  fails(
    "[libdefaults]\n kdc_timeout = 0\n",
    "krb5.conf line 2: kdc_timeout '0' is not a positive duration",
  );
  fails(
    "[realms]\n R = {\n kdc = fd00::1:88\n }\n",
    "krb5.conf line 3: kdc 'fd00::1:88': an IPv6 address with a port must be written [address]:port",
  );
  fails(
    "[realms]\n R = {\n kdc = [fd00::1\n }\n",
    "krb5.conf line 3: kdc '[fd00::1': expected ']' after the IPv6 address",
  );
  fails(
    "[realms]\n R = {\n kdc = host:99999\n }\n",
    "krb5.conf line 3: kdc 'host:99999': port '99999' is not 1..65535",
  );
  fails("[realms]\n R = kdc.example\n", "krb5.conf line 2: realm 'R' must be followed by '= {'");
  fails('[libdefaults]\n default_realm = "X\n', "krb5.conf line 2: unterminated quoted value");
  fails(
    "[libdefaults]\n default_realm = {\n }\n",
    "krb5.conf line 2: 'default_realm' must be a value, not '{'",
  );
});

Deno.test("krb5.conf: include and includedir are followed by loadKrb5Conf", async () => {
  const d = "tests/unit/kerberos/data/krb5conf";
  const c = await loadKrb5Conf(`${d}/main.conf`);
  strictEqual(c.libdefaults.defaultRealm, "A.TEST"); // the first value wins, as in MIT
  strictEqual(c.libdefaults.clockskew, 60); // from d/10-skew.conf; d/ignored~ is skipped
  deepStrictEqual(c.realms.get("A.TEST")!.kdc, ["127.0.0.1:1088"]);
  await throwsAsync(
    () => loadKrb5Conf(`${d}/bad.conf`),
    `${d}/baddir/bad line 2: kdc_timeout 'never' is not a positive duration`,
  );
  await throwsAsync(
    () => loadKrb5Conf(`${d}/missing.conf`),
    new RegExp(`^${d}/missing.conf: cannot read`),
  );
});

async function throwsAsync(fn: () => Promise<unknown>, message: string | RegExp) {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (typeof message === "string") strictEqual(e.message, message);
    else if (!message.test(e.message)) throw e;
    return;
  }
  throw new Error("expected a ConfigError");
}
