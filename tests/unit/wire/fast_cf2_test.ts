import { assert, assertEquals } from "./assert.ts";
import { krbFxCf2 } from "../../../core/cli/decode/fast.ts";
import { Key } from "../../../core/crypto/mod.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";

interface Cf2Row {
  enctype: number;
  pepper1: string;
  pepper2: string;
  cf2_output_hex: string;
  key1_hex?: string;
  key2_hex?: string;
}

Deno.test("KRB-FX-CF2 used by kink decode for FAST matches MIT's t_cf2 vectors (AES enctypes)", () => {
  const v = JSON.parse(
    Deno.readTextFileSync(
      new URL("../../fixtures/vectors/mit-asn1/derived/prf_cf2_vectors.json", import.meta.url),
    ),
  ) as { cf2: Cf2Row[] };
  const rows = v.cf2.filter((r) => r.enctype >= 17 && r.enctype <= 20 && r.key1_hex);
  assert(rows.length >= 2);
  for (const r of rows) {
    const k1 = Key.fromBytes(r.enctype, fromHex(r.key1_hex!));
    const k2 = Key.fromBytes(r.enctype, fromHex(r.key2_hex!));
    const out = krbFxCf2(k1, k2, r.pepper1, r.pepper2);
    assertEquals(toHex(out.exportBytes()), r.cf2_output_hex, `enctype ${r.enctype}`);
    for (const k of [k1, k2, out]) k.dispose();
  }
});
