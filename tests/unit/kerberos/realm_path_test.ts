/**
 * The realm path of a cross-realm request: krb5.conf [capaths] as MIT documents it
 * (krb5.conf(5) "[capaths]" example: ANL.GOV, PNL.GOV, NERSC.GOV, ES.NET) and the
 * hierarchical default of RFC 4120 §1.2 / §3.3.3.2.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { capathsFromKrb5Conf, realmPath } from "../../../core/kerberos/client.ts";
import { parseKrb5Conf } from "../../../core/kerberos/krb5conf.ts";

// The [capaths] example of MIT's krb5.conf(5) manual page.
const MIT_EXAMPLE = `
[capaths]
    ANL.GOV = {
        TEST.ANL.GOV = .
        PNL.GOV = ES.NET
        NERSC.GOV = ES.NET
        ES.NET = .
    }
    TEST.ANL.GOV = {
        ANL.GOV = .
    }
    PNL.GOV = {
        ANL.GOV = ES.NET
    }
    NERSC.GOV = {
        ANL.GOV = ES.NET
    }
    ES.NET = {
        ANL.GOV = .
    }
`;

Deno.test("realmPath: [capaths] of MIT's krb5.conf(5) example", () => {
  const capaths = capathsFromKrb5Conf(parseKrb5Conf(MIT_EXAMPLE));
  assertEquals(capaths["ANL.GOV"]?.["PNL.GOV"], ["ES.NET"]);
  assertEquals(realmPath("ANL.GOV", "PNL.GOV", capaths), ["ES.NET", "PNL.GOV"]);
  assertEquals(realmPath("ANL.GOV", "TEST.ANL.GOV", capaths), ["TEST.ANL.GOV"]);
  assertEquals(realmPath("NERSC.GOV", "ANL.GOV", capaths), ["ES.NET", "ANL.GOV"]);
  assertEquals(realmPath("ES.NET", "ANL.GOV", capaths), ["ANL.GOV"]);
  // No entry: the hierarchical default (ANL.GOV and PNL.GOV share GOV).
  assertEquals(realmPath("PNL.GOV", "NERSC.GOV", capaths), ["GOV", "NERSC.GOV"]);
});

Deno.test("realmPath: hierarchical default (RFC 4120 §1.2)", () => {
  assertEquals(realmPath("A.EXAMPLE.COM", "A.EXAMPLE.COM"), []);
  // Up to the common parent, then down.
  assertEquals(realmPath("A.EXAMPLE.COM", "B.EXAMPLE.COM"), ["EXAMPLE.COM", "B.EXAMPLE.COM"]);
  assertEquals(realmPath("X.A.EXAMPLE.COM", "B.EXAMPLE.COM"), [
    "A.EXAMPLE.COM",
    "EXAMPLE.COM",
    "B.EXAMPLE.COM",
  ]);
  // Parent and child: one step.
  assertEquals(realmPath("EXAMPLE.COM", "SUB.EXAMPLE.COM"), ["SUB.EXAMPLE.COM"]);
  assertEquals(realmPath("SUB.EXAMPLE.COM", "EXAMPLE.COM"), ["EXAMPLE.COM"]);
  // Nothing in common: direct.
  assertEquals(realmPath("EXAMPLE.COM", "EXAMPLE.ORG"), ["EXAMPLE.ORG"]);
  assertEquals(realmPath("ATHENA", "KINK"), ["KINK"]);
});
