export { BridgeServer, type BridgeServerOptions } from "./bridge-server.js";
export { ERROR_DETAIL_METADATA_KEY, toServiceError } from "./service-error.js";
export { AUTH_METADATA_KEY } from "./auth.js";
export {
  Credentials,
  METHOD_PERMISSION,
  type Credential,
  type CredentialPermission,
  type CredentialSpec,
} from "./credentials.js";
