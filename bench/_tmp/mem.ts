import { withRealm } from "../../tests/harness/krb5_realm.ts";
import { Daemon } from "../../core/daemon/daemon.ts";
import { UdpTransport } from "../../core/net/mod.ts";
import { readConfigFile } from "../../core/config/mod.ts";
const gc = (globalThis as { gc?: () => void }).gc!;
const mem = (l: string) => {
  gc();
  gc();
  const m = Deno.memoryUsage();
  console.log(
    l.padEnd(24),
    "rss",
    (m.rss / 1048576).toFixed(0),
    "heap",
    (m.heapUsed / 1048576).toFixed(1),
    "ext",
    (m.external / 1048576).toFixed(1),
  );
};
const P = Number(Deno.args[0] ?? 1000), S = Number(Deno.args[1] ?? 10);
await withRealm({ principals: ["kink/a.kink.test", "kink/b.kink.test"] }, async (realm) => {
  const dir = await Deno.makeTempDir({ prefix: "kink-test-memx-" });
  const me = realm.principal("kink/a.kink.test"), other = realm.principal("kink/b.kink.test");
  const lines = [
    "[daemon]",
    `listen = ["127.0.0.1:19910"]`,
    `state_dir = "${dir}/state"`,
    `control_socket = "${dir}/run/kink.sock"`,
    `krb5_conf = "${realm.krb5Conf}"`,
    `inject_acquires = true`,
    "",
    "[identity]",
    `principal = "${me}"`,
    `keytab = "${realm.keytab(me)}"`,
    "",
  ];
  for (let i = 0; i < P; i++) {
    lines.push(
      "[[peer]]",
      `name = "p${i}"`,
      `address = "10.89.${i >> 8}.${i & 255}"`,
      `local_address = "127.0.0.1"`,
      `principal = "${other}"`,
      `mode = "${S ? "tunnel" : "transport"}"`,
      `proposals = ["esp-aes128gcm16"]`,
    );
    for (let k = 0; k < S; k++) {
      const j = i * S + k;
      lines.push(
        "[[peer.traffic]]",
        `local = "10.100.${j >> 8 & 255}.${j & 255}/32"`,
        `remote = "10.150.${j >> 8 & 255}.${j & 255}/32"`,
      );
    }
  }
  await Deno.writeTextFile(`${dir}/kink.toml`, lines.join("\n"));
  mem("before");
  let t = performance.now();
  const cfg = await readConfigFile(`${dir}/kink.toml`);
  console.log("parse ms", (performance.now() - t).toFixed(0));
  mem("config parsed (kept)");
  t = performance.now();
  const d = await Daemon.start({
    configPath: `${dir}/kink.toml`,
    kernel: "memory",
    logSink: () => {},
    openTransport: (c) =>
      Promise.resolve(UdpTransport.open({ locals: c.daemon.listen.map((e) => ({ ...e })) })),
  });
  console.log("start ms", (performance.now() - t).toFixed(0), cfg.peers.length);
  mem("daemon started");
  const { cpuUsage } = await import("node:process");
  const c0 = cpuUsage();
  await new Promise((r) => setTimeout(r, 10_000));
  const c1 = cpuUsage(c0);
  console.log("idle 10 s: cpu ms", ((c1.user + c1.system) / 1000).toFixed(1));
  await d.stop(100);
  mem("stopped");
  await Deno.remove(dir, { recursive: true });
});
