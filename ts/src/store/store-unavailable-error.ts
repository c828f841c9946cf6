// The store's one error of its own lives with the others (testdata/errors.json): re-exported
// here so the store's modules name it from their own folder.
export { StoreUnavailableError } from "../errors/index.js";
