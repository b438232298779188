/**
 * The daemon's configuration file (TOML): parsing with positions, the typed
 * model with its defaults, validation that names file, line and key, and
 * reading the file with a size bound.
 *
 * @module
 */
export * from "./schema.ts";
export {
  type Cidr,
  type Endpoint,
  type IpAddress,
  parseCidr,
  parseEndpoint,
  parseIp,
} from "./net.ts";
export * from "./proposals.ts";
export {
  formatPath,
  type KeyPath,
  MAX_CONFIG_OCTETS,
  parseToml,
  type TomlDocument,
  type TomlValue,
} from "./toml.ts";
export { readConfigFile } from "./file.ts";
