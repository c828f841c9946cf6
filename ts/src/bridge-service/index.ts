export { BridgeServer, ERROR_DETAIL_METADATA_KEY, toServiceError, type BridgeServerOptions } from "./bridge-server.js";
export { AUTH_METADATA_KEY } from "./auth.js";
