import type { Command } from "../command.ts";
import { VERSION } from "../../version.ts";

/** `kink version`: prints kink's version, the Deno runtime and the crypto core's build id. */
export const versionCommand: Command = {
  name: "version",
  summary: "Print kink's version, the Deno version and the crypto core's build id",
  usage: "version",
  options: {},
  permissions: () => [],
  permissionNotes: ["none"],
  async run(_args, io) {
    // The crypto core (its WebAssembly module) is loaded only by the command that prints it.
    const { cryptoBuildId } = await import("../../crypto/mod.ts");
    io.out(`kink ${VERSION}`);
    io.out(
      `deno ${Deno.version.deno} (v8 ${Deno.version.v8}, typescript ${Deno.version.typescript})`,
    );
    io.out(`crypto ${cryptoBuildId}`);
    return 0;
  },
};
