export type { BridgeEvents, CallEvent, LogEvent, WorkerEvent, WorkerEventType } from "./events.js";
