// The Values inside any bridge-service message, out of band on a worker connection.
//
// A worker's HostCall carries a bridge-service request (UpdateVariablesRequest,
// CallToolRequest, ...) and gets back responses (GetVariablesResponse, WatchResponse,
// CallToolResponse, ...) whose Values may hold large attachments. On the worker connection
// those attachments travel as the frame's raw attachments, as a command's arguments and
// results do: the Values inside the message carry AttachmentDescriptors whose `index`
// counts across the whole frame. The walks here find a message's Values through its
// schema, so every RPC of the service gets the same treatment, present and future.
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "../gen/dspy_bridge/v1/values_pb.js";
import { attachmentBytes, descriptorOf, withResolvedAttachments } from "./out-of-band.js";

/** A field that holds a Value or a message that can (directly or further down). */
interface ValueField {
  field: DescField & { fieldKind: "message" | "list" | "map" };
  /** The field's message type is Value itself (else: a message to walk into). */
  isValue: boolean;
}

const fieldsOf = new Map<string, ValueField[]>();

/** The fields of `desc` through which a Value can be reached ([] when none can: nothing to walk). */
function valueFields(desc: DescMessage, visiting = new Set<string>()): ValueField[] {
  const known = fieldsOf.get(desc.typeName);
  if (known) return known;
  if (visiting.has(desc.typeName)) return []; // a recursive type: its own entry is being built
  visiting.add(desc.typeName);
  const out: ValueField[] = [];
  for (const field of desc.fields) {
    let message: DescMessage | undefined;
    if (field.fieldKind === "message") message = field.message;
    else if (field.fieldKind === "list" && field.listKind === "message") message = field.message;
    else if (field.fieldKind === "map" && field.mapKind === "message") message = field.message;
    if (!message) continue;
    const isValue = message.typeName === ValueSchema.typeName;
    if (isValue || valueFields(message, visiting).length > 0) {
      out.push({ field: field as ValueField["field"], isValue });
    }
  }
  visiting.delete(desc.typeName);
  fieldsOf.set(desc.typeName, out);
  return out;
}

type Msg = Record<string, unknown>;

/** What a field holds in `m` (a oneof member: only while it is the case set). */
function read(m: Msg, field: DescField): unknown {
  if (field.oneof) {
    const slot = m[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
    return slot?.case === field.localName ? slot.value : undefined;
  }
  return m[field.localName];
}

function write(m: Msg, field: DescField, value: unknown): void {
  if (field.oneof) m[field.oneof.localName] = { case: field.localName, value };
  else m[field.localName] = value;
}

/**
 * Applies `change` to every Value reachable in `message` (of type `desc`); returns the
 * message, copied along the path to each Value `change` replaced (copy-on-write: the
 * original, which may be shared, is never modified) or itself when nothing changed.
 */
function mapValues(desc: DescMessage, message: Msg, change: (v: Value) => Value): Msg {
  const fields = valueFields(desc);
  if (fields.length === 0) return message;
  let out: Msg | undefined;
  for (const { field, isValue } of fields) {
    const held = read(message, field);
    if (held === undefined || held === null) continue;
    const one = (item: Msg): Msg =>
      isValue ? (change(item as unknown as Value) as unknown as Msg) : mapValues(field.message!, item, change);
    let next: unknown = held;
    if (field.fieldKind === "list") {
      const list = held as Msg[];
      let copy: Msg[] | undefined;
      for (let i = 0; i < list.length; i++) {
        const item = one(list[i]!);
        if (item !== list[i]) (copy ??= list.slice())[i] = item;
      }
      if (copy) next = copy;
    } else if (field.fieldKind === "map") {
      const map = held as Record<string, Msg>;
      let copy: Record<string, Msg> | undefined;
      for (const key of Object.keys(map)) {
        const item = one(map[key]!);
        if (item !== map[key]) (copy ??= { ...map })[key] = item;
      }
      if (copy) next = copy;
    } else next = one(held as Msg);
    if (next !== held) write((out ??= { ...message }), field, next);
  }
  return out ?? message;
}

/** A message ready for an out-of-band frame: its Values refer to `raw` by descriptor. */
export interface ExternalizedMessage {
  message: unknown;
  /** The raw attachments, in frame order (views of the Values' own memory, not copies). */
  raw: Uint8Array[];
}

/**
 * `message` with the attachments of its Values moved out of band: each Value with
 * attachments is replaced (in a copy of the message, see mapValues) by one carrying
 * descriptors that index `raw`. The attachments are not copied.
 */
export function externalizeMessage(desc: DescMessage, message: unknown): ExternalizedMessage {
  const raw: Uint8Array[] = [];
  const out = mapValues(desc, message as Msg, (v) => {
    if (v.attachments.length === 0) return v;
    const first = raw.length;
    for (const a of v.attachments) raw.push(attachmentBytes(a));
    return {
      $typeName: "dspy_bridge.v1.Value",
      json: v.json,
      attachments: [],
      external: v.attachments.map((a, i) => descriptorOf(a, first + i)),
    };
  });
  return { message: out, raw };
}

/**
 * Resolves, in place, the external descriptors of every Value in a message just decoded
 * from an out-of-band frame (its attachments become views of `raw`). Throws OutOfBandError
 * for a descriptor that points outside the frame or disagrees with it, and for a Value
 * with descriptors when the frame had no attachments (`raw` undefined).
 */
export function resolveMessageAttachments(
  desc: DescMessage,
  message: unknown,
  raw: readonly Uint8Array[] | undefined,
): void {
  mapValues(desc, message as Msg, (v) => {
    if (v.external.length === 0) return v;
    const resolved = withResolvedAttachments(v, raw);
    v.attachments = resolved.attachments;
    v.external = [];
    return v;
  });
}

/** The bytes the raw attachments add to a message. */
export function rawSize(raw: readonly Uint8Array[] | undefined): number {
  let n = 0;
  if (raw) for (const r of raw) n += r.length;
  return n;
}
