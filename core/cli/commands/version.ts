import type { Command } from "../command.ts";
import { VERSION } from "../../version.ts";
import { cryptoBuildId } from "../../crypto/mod.ts";

/** `kink version`: prints kink's version, the Deno runtime and the crypto core's build id. */
export const versionCommand: Command = {
  name: "version",
  summary: "Print kink's version, the Deno version and the crypto core's build id",
  usage: "version",
  options: {},
  permissions: () => [],
  permissionNotes: ["none"],
  run(_args, io) {
    io.out(`kink ${VERSION}`);
    io.out(
      `deno ${Deno.version.deno} (v8 ${Deno.version.v8}, typescript ${Deno.version.typescript})`,
    );
    io.out(`crypto ${cryptoBuildId}`);
    return Promise.resolve(0);
  },
};
