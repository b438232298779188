/**
 * The daemon configuration: the annotated example is valid and documents the
 * defaults; every problem is reported with file, line and key, all at once;
 * the file reader is bounded and refuses non-regular files; random and
 * mutated input gives only typed errors.
 */
import assert from "node:assert/strict";
import {
  ConfigInvalidError,
  DEFAULTS,
  parseConfig,
  parseProposal,
  readConfigFile,
} from "../../../core/config/mod.ts";
import { ConfigError } from "../../../core/errors.ts";
import { SeededRandom } from "../../../core/util/random.ts";

const EXAMPLE = new URL("../../../contrib/kink.toml", import.meta.url);

function problems(text: string): string[] {
  try {
    parseConfig(text, "t.toml");
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${e}`);
    return [...e.problems];
  }
  assert.fail("configuration was accepted");
}

const MIN = `[identity]\nprincipal = "kink/a.example@EX"\nkeytab = "/etc/k.keytab"\n`;

Deno.test("config: contrib/kink.toml is valid and every default it states is the code's default", async () => {
  const c = await readConfigFile(EXAMPLE.pathname);
  assert.equal(c.peers.length, 2);
  const text = await Deno.readTextFile(EXAMPLE);
  // The example's [daemon] and [defaults] sections restate the defaults: a minimal file must give
  // exactly the same settings.
  const min = parseConfig(
    MIN + `[[peer]]\nname = "p"\naddress = "192.0.2.9"\nprincipal = "kink/p@EX"\n`,
    "m",
  );
  assert.deepEqual(min.daemon, c.daemon);
  const [p] = min.peers;
  assert.ok(p);
  assert.equal(p.prf, DEFAULTS.prf);
  assert.deepEqual(p.proposals.map((x) => x.text), DEFAULTS.proposals);
  assert.deepEqual(p.timers, DEFAULTS.timers);
  assert.equal(p.lifetimeSeconds, DEFAULTS.lifetimeSeconds);
  assert.match(text, /retransmit_initial = "1s"/);
  assert.match(text, new RegExp(`proposals = \\["${DEFAULTS.proposals.join('", "')}"\\]`));
});

Deno.test("config: every problem names file, line and key, all reported at once", () => {
  const text = [
    "[daemon]", // 1
    'listen = ["1.2.3:910", "[::1]:70000"]', // 2
    'state_dir = "relative"', // 3
    "bogus = 1", // 4
    "[identity]", // 5
    'principal = "no-realm"', // 6
    "[[peer]]", // 7
    'name = "b"', // 8
    'address = ["10.0.0.300"]', // 9
    'principal = "kink/b@R"', // 10
    'proposals = ["esp-aes129-sha1", "esp-aes128gcm16-sha1", "esp-aes128"]', // 11
    'mode = "tunnel"', // 12
    "[[peer.traffic]]", // 13
    'local = "10.1.0.1/16"', // 14
    'remote = "fd00::/8"', // 15
  ].join("\n");
  const got = problems(text);
  const want: [number, string, RegExp][] = [
    [4, "daemon.bogus", /unknown key/],
    [2, "daemon.listen[0]", /not ADDRESS\[:PORT\]/],
    [2, "daemon.listen[1]", /port .* not 1\.\.65535/],
    [3, "daemon.state_dir", /absolute path/],
    [6, "identity.principal", /principal name/],
    [5, "identity", /needs keytab .* or ccache/],
    [9, "peer[0].address[0]", /not an IP address/],
    [11, "peer[0].proposals[0]", /unknown ESP encryption algorithm "aes129"/],
    [11, "peer[0].proposals[1]", /AEAD: it takes no integrity/],
    [11, "peer[0].proposals[2]", /only allowed under AH/],
    [14, "peer[0].traffic[0].local", /host bits set/],
  ];
  for (const [line, key, re] of want) {
    assert.ok(
      got.some((p) => p.startsWith(`t.toml:${line}: ${key}: `) && re.test(p)),
      `missing t.toml:${line}: ${key}: ${re}\n${got.join("\n")}`,
    );
  }
  assert.equal(got.length, want.length, got.join("\n"));
});

Deno.test("config: peer_networks takes IPv4 networks and refuses IPv6 ones (Deno's --allow-net has no IPv6 ranges)", () => {
  const c = parseConfig(`[daemon]\npeer_networks = ["192.0.2.0/24", "10.9.9.9"]\n` + MIN, "n.toml");
  assert.deepEqual(
    c.daemon.peerNetworks.map((n) => `${n.address}/${n.prefix}`),
    ["192.0.2.0/24", "10.9.9.9/32"],
  );
  const got = problems(`[daemon]\npeer_networks = ["fd00::/8", "10.1.0.1/16", "x"]\n` + MIN);
  assert.equal(got.length, 3, got.join("\n"));
  assert.match(got[0]!, /^t\.toml:2: daemon\.peer_networks\[0\]: IPv4 networks only/);
  assert.match(got[1]!, /^t\.toml:2: daemon\.peer_networks\[1\]: .*host bits set/);
  assert.match(got[2]!, /^t\.toml:2: daemon\.peer_networks\[2\]: .*not an IPv4 or IPv6/);
});

Deno.test("config: TOML syntax errors name the line (duplicate keys, redefined tables, bad values)", () => {
  for (
    const [text, line] of [
      ['a = "x"\na = "y"\n', 2],
      ["[daemon]\n[daemon]\n", 2],
      ['[identity]\nprincipal = "unterminated\n', 2],
      ["x = = 1\n", 1],
    ] as const
  ) {
    try {
      parseConfig(text, "s.toml");
      assert.fail(`accepted: ${JSON.stringify(text)}`);
    } catch (e) {
      assert.ok(e instanceof ConfigError && e.category === "syntax", String(e));
      assert.ok(e.message.startsWith(`s.toml:${line}: invalid TOML`), e.message);
    }
  }
});

Deno.test("config: proposals parse into protocols, bundles and PFS groups", () => {
  assert.deepEqual(parseProposal("esp-aes256-sha256"), {
    text: "esp-aes256-sha256",
    protocols: [{
      protocol: "esp",
      encryption: "aes-cbc",
      keyBits: 256,
      integrity: "hmac-sha2-256",
    }],
  });
  assert.deepEqual(parseProposal("esp-aes128gcm16-ecp256"), {
    text: "esp-aes128gcm16-ecp256",
    protocols: [{ protocol: "esp", encryption: "aes-gcm-16", keyBits: 128 }],
    dhGroup: 19,
  });
  assert.deepEqual(parseProposal("ah-sha1+esp-3des-modp2048"), {
    text: "ah-sha1+esp-3des-modp2048",
    protocols: [
      { protocol: "ah", integrity: "hmac-sha1" },
      { protocol: "esp", encryption: "3des-cbc", keyBits: 192 },
    ],
    dhGroup: 14,
  });
  for (
    const bad of ["esp-aes128", "esp+ah-sha1", "esp-aes128-sha1+ah-sha1", "gre-x", "esp-null", ""]
  ) {
    assert.equal(typeof parseProposal(bad), "string", bad);
  }
  const mixed = problems(
    MIN + '[[peer]]\nname="p"\naddress="192.0.2.9"\nprincipal="kink/p@EX"\n' +
      'proposals=["esp-aes128-sha1-modp2048","esp-aes128-sha1-ecp256"]\n',
  );
  assert.ok(mixed.some((p) => /same PFS group/.test(p)), mixed.join("\n"));
});

Deno.test("config: control characters from the file are escaped in messages", () => {
  const got = problems(
    MIN + '[[peer]]\nname = "a\\u001b[2Jb"\naddress = "192.0.2.1"\nprincipal = "kink/p@EX"\n',
  );
  // deno-lint-ignore no-control-regex
  assert.ok(got.every((p) => !/[\u0000-\u001f\u007f-\u009f]/.test(p)), JSON.stringify(got));
  assert.ok(got.some((p) => p.includes("\\x1b[2J")), got.join("\n"));
});

Deno.test("config: 20,000 mutated and random inputs give only ConfigErrors", async () => {
  const seed = 0x6b696e6b;
  const rnd = new SeededRandom(seed);
  const base = new TextEncoder().encode(await Deno.readTextFile(EXAMPLE));
  const alphabet = new TextEncoder().encode("[]{}=\".,#\n\\ '0123456789abcdefxyz-_:/@\t");
  for (let i = 0; i < 20_000; i++) {
    const b = base.slice();
    const n = 1 + (rnd.nextUint32() % 8);
    for (let k = 0; k < n; k++) {
      const at = rnd.nextUint32() % b.length;
      b[at] = alphabet[rnd.nextUint32() % alphabet.length]!;
    }
    const text = new TextDecoder().decode(i % 10 === 0 ? rnd.fill(new Uint8Array(64)) : b);
    try {
      parseConfig(text, "f.toml");
    } catch (e) {
      if (!(e instanceof ConfigError)) {
        throw new Error(`seed ${seed} case ${i}: untyped ${e}\n${JSON.stringify(text)}`);
      }
    }
  }
});

Deno.test("config: a hub of 1,000 peers × 10 selectors is accepted (one reqid each of the daemon's range); duplicate names and addresses are still found", () => {
  const peer = (i: number, name = `p${i}`, addr = `10.89.${i >> 8}.${i & 255}`) =>
    [
      "[[peer]]",
      `name = "${name}"`,
      `address = "${addr}"`,
      `principal = "kink/b.example@EX"`,
      `mode = "tunnel"`,
      ...Array.from({ length: 10 }, (_, k) => [
        "[[peer.traffic]]",
        `local = "10.100.${i >> 4}.${((i & 15) << 4) | k}/32"`,
        `remote = "10.150.${i >> 4}.${((i & 15) << 4) | k}/32"`,
      ]).flat(),
    ].join("\n");
  const peers = Array.from({ length: 1000 }, (_, i) => peer(i));
  const c = parseConfig(MIN + peers.join("\n"), "t.toml");
  assert.equal(c.peers.length, 1000);
  assert.equal(c.peers[999]!.traffic.length, 10);
  assert.equal(c.peers[999]!.name, "p999");
  // after 20 peers: one reusing peer 3's name, one peer 17's address
  const ps = problems(
    MIN + [...peers.slice(0, 20), peer(20, "p3"), peer(21, "q21", "10.89.0.17")].join("\n"),
  );
  assert.equal(ps.length, 2, ps.join("\n"));
  assert.match(ps[0]!, /peer\[20\]\.name: duplicate name "p3"/);
  assert.match(ps[1]!, /peer\[21\]\.address: address 10\.89\.0\.17 is also peer "p17"'s/);
});
