/** Principal string form (RFC 1964 §2.1.1 escaping, MIT krb5_parse_name rules). */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import {
  formatPrincipal,
  parsePrincipal,
  principalEquals,
  tgsPrincipal,
} from "../../../core/kerberos/principal.ts";

Deno.test("principal: parse the KINK service name", () => {
  deepStrictEqual(parsePrincipal("kink/b.kink.test@KINK.TEST"), {
    nameType: 1,
    components: ["kink", "b.kink.test"],
    realm: "KINK.TEST",
  });
  deepStrictEqual(parsePrincipal("krbtgt/KINK.TEST@KINK.TEST").nameType, 2);
  deepStrictEqual(parsePrincipal("WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS").nameType, 11);
  deepStrictEqual(parsePrincipal("user", { defaultRealm: "R" }), {
    nameType: 1,
    components: ["user"],
    realm: "R",
  });
  deepStrictEqual(parsePrincipal("host/x@R", { nameType: 3 }).nameType, 3);
});

Deno.test("principal: escapes round-trip (RFC 1964: \\/ \\@ \\\\ \\0 \\b \\t \\n)", () => {
  const p = { nameType: 1, components: ["a/b", "c@d", "e\\f", "\0\b\t\n"], realm: "R@S/T" };
  const s = formatPrincipal(p);
  strictEqual(s, "a\\/b/c\\@d/e\\\\f/\\0\\b\\t\\n@R\\@S/T");
  deepStrictEqual(parsePrincipal(s), p);
  // An escaped ordinary character stands for itself.
  deepStrictEqual(parsePrincipal("\\x@R").components, ["x"]);
  // '/' inside the realm is literal.
  strictEqual(parsePrincipal("a@R/S").realm, "R/S");
});

Deno.test("principal: malformed names are refused with a typed error", () => {
  const bad = (s: string, re: RegExp) =>
    throws(() => parsePrincipal(s), (e) => e instanceof KerberosError && re.test(e.message));
  bad("", /empty name/);
  bad("a@", /empty realm/);
  bad("a@B@C", /unescaped '@' in realm/);
  bad("a\\", /trailing backslash/);
  bad("a", /no realm and no default realm/);
  bad("@R", /empty name/);
});

Deno.test("principal: equality ignores the name type; TGS name", () => {
  ok(principalEquals(parsePrincipal("a/b@R"), { nameType: 3, components: ["a", "b"], realm: "R" }));
  ok(!principalEquals(parsePrincipal("a/b@R"), parsePrincipal("a/b@S")));
  ok(!principalEquals(parsePrincipal("a/b@R"), parsePrincipal("a@R")));
  deepStrictEqual(tgsPrincipal("R"), { nameType: 2, components: ["krbtgt", "R"], realm: "R" });
  strictEqual(formatPrincipal(tgsPrincipal("A", "B")), "krbtgt/B@A");
});
