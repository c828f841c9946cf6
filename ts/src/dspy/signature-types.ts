// Types inferred from a DSPy string signature at compile time: `"question -> answer: float"`
// gives inputs `{ question: string }` and outputs `{ answer: number }`. The grammar is DSPy's
// own (comma-separated fields, `name` or `name: type`, inputs `->` outputs); the type names are
// the ones DSPy resolves in a string signature. A signature that is not a literal (a `string`
// variable) or that this parser cannot read gives the open record types, never a wrong type.

/** DSPy's modules the workers build by name. */
export type ModuleType =
  | "Predict"
  | "ChainOfThought"
  | "ReAct"
  | "ProgramOfThought"
  | "MultiChainComparison"
  | "BestOfN"
  | "Refine";

/**
 * A module name: one of DSPy's (`ModuleType`, completed by the editor) or a user module's
 * dotted name; `(string & {})` keeps the completion of the known names while accepting others.
 */
export type ModuleName = ModuleType | (string & {});

type Whitespace = " " | "\n" | "\t" | "\r";
type TrimStart<S extends string> = S extends `${Whitespace}${infer R}` ? TrimStart<R> : S;
type TrimEnd<S extends string> = S extends `${infer L}${Whitespace}` ? TrimEnd<L> : S;
type Trim<S extends string> = TrimEnd<TrimStart<S>>;

type Opening = "[" | "(" | "{";
type Closing = "]" | ")" | "}";

/**
 * Splits at the commas outside brackets and quotes (`a: dict[str, int], b` has two parts).
 * Tail-recursive, so the compiler's depth limit is 1,000 characters' worth of steps.
 */
type SplitTop<
  S extends string,
  Depth extends unknown[] = [],
  Quote extends string = "",
  Current extends string = "",
  Parts extends string[] = [],
> = S extends `${infer C}${infer Rest}`
  ? Quote extends ""
    ? C extends "'" | '"'
      ? SplitTop<Rest, Depth, C, `${Current}${C}`, Parts>
      : C extends Opening
        ? SplitTop<Rest, [...Depth, 1], Quote, `${Current}${C}`, Parts>
        : C extends Closing
          ? SplitTop<Rest, Depth extends [unknown, ...infer D] ? D : [], Quote, `${Current}${C}`, Parts>
          : C extends ","
            ? Depth extends []
              ? SplitTop<Rest, Depth, Quote, "", [...Parts, Current]>
              : SplitTop<Rest, Depth, Quote, `${Current}${C}`, Parts>
            : SplitTop<Rest, Depth, Quote, `${Current}${C}`, Parts>
    : C extends Quote
      ? SplitTop<Rest, Depth, "", `${Current}${C}`, Parts>
      : SplitTop<Rest, Depth, Quote, `${Current}${C}`, Parts>
  : Trim<Current> extends ""
    ? Parts
    : [...Parts, Current];

/** A literal of `Literal[...]`: a quoted string, a number, True/False, None. */
type LiteralValue<S extends string> =
  Trim<S> extends `'${infer V}'`
    ? V
    : Trim<S> extends `"${infer V}"`
      ? V
      : Trim<S> extends "True"
        ? true
        : Trim<S> extends "False"
          ? false
          : Trim<S> extends "None"
            ? null
            : Trim<S> extends `${infer N extends number}`
              ? N
              : unknown;

type LiteralUnion<Parts extends string[]> = Parts extends [infer H extends string, ...infer R extends string[]]
  ? LiteralValue<H> | LiteralUnion<R>
  : never;
type UnionOf<Parts extends string[]> = Parts extends [infer H extends string, ...infer R extends string[]]
  ? PythonType<H> | UnionOf<R>
  : never;

/** A Python type annotation as DSPy reads it in a string signature -> the JSON value's TypeScript type. */
export type PythonType<T extends string> =
  Trim<T> extends infer U extends string
    ? SplitUnion<U> extends [string, string, ...string[]]
      ? UnionOf<SplitUnion<U>>
      : U extends "str"
        ? string
        : U extends "int" | "float"
          ? number
          : U extends "bool"
            ? boolean
            : U extends "None"
              ? null
              : // An image input: its bytes (PNG, JPEG, GIF, WebP), a file path on the workers' machine or a URL.
                U extends "dspy.Image" | "Image"
                ? Uint8Array | string
                : U extends `${"list" | "List"}[${infer I}]`
                  ? PythonType<I>[]
                  : U extends `${"tuple" | "Tuple"}[${infer I}]`
                    ? PythonType<TupleItem<I>>[]
                    : U extends `${"dict" | "Dict"}[${infer I}]`
                      ? SplitTop<I> extends [string, infer V extends string]
                        ? Record<string, PythonType<V>>
                        : Record<string, unknown>
                      : U extends `Literal[${infer I}]`
                        ? LiteralUnion<SplitTop<I>>
                        : U extends `Optional[${infer I}]`
                          ? PythonType<I> | null
                          : U extends `Union[${infer I}]`
                            ? UnionOf<SplitTop<I>>
                            : U extends "list" | "List"
                              ? unknown[]
                              : U extends "dict" | "Dict"
                                ? Record<string, unknown>
                                : unknown
    : never;

type TupleItem<I extends string> = SplitTop<I> extends [infer H extends string, ...string[]] ? H : "Any";

/** `A | B` at the top level (outside brackets): the parts, or a single element when there is no `|`. */
type SplitUnion<
  S extends string,
  Depth extends unknown[] = [],
  Current extends string = "",
  Parts extends string[] = [],
> = S extends `${infer C}${infer Rest}`
  ? C extends Opening
    ? SplitUnion<Rest, [...Depth, 1], `${Current}${C}`, Parts>
    : C extends Closing
      ? SplitUnion<Rest, Depth extends [unknown, ...infer D] ? D : [], `${Current}${C}`, Parts>
      : C extends "|"
        ? Depth extends []
          ? SplitUnion<Rest, Depth, "", [...Parts, Current]>
          : SplitUnion<Rest, Depth, `${Current}${C}`, Parts>
        : SplitUnion<Rest, Depth, `${Current}${C}`, Parts>
  : [...Parts, Current];

/** Whether a field's annotation admits None (such an input may be left out, as DSPy allows). */
type IsOptional<T extends string> = null extends PythonType<T> ? true : false;

type FieldName<F extends string> = Trim<F> extends `${infer N}:${string}` ? Trim<N> : Trim<F>;
type FieldType<F extends string> = Trim<F> extends `${string}:${infer T}` ? T : "str";

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type FieldsOf<Parts extends string[]> = Simplify<{ [F in Parts[number] as FieldName<F>]: PythonType<FieldType<F>> }>;
type InputFieldsOf<Parts extends string[]> = Simplify<
  { [F in Parts[number] as IsOptional<FieldType<F>> extends true ? never : FieldName<F>]: PythonType<FieldType<F>> } & {
    [F in Parts[number] as IsOptional<FieldType<F>> extends true ? FieldName<F> : never]?: PythonType<FieldType<F>>;
  }
>;

/** Whether `S` is a string literal type (not `string` itself). */
type IsLiteral<S extends string> = string extends S ? false : true;

type Sides<S extends string> = S extends `${infer I}->${infer O}` ? [I, O] : never;

/** The input fields of a string signature: `{ question: string }`; an `Optional` input may be left out. */
export type SignatureInputs<S extends string> =
  IsLiteral<S> extends true
    ? [Sides<S>] extends [never]
      ? Record<string, unknown>
      : InputFieldsOf<SplitTop<Sides<S>[0]>>
    : Record<string, unknown>;

/** The output fields of a string signature: `{ answer: number }` for `"q -> answer: float"`. */
export type SignatureOutputs<S extends string> =
  IsLiteral<S> extends true
    ? [Sides<S>] extends [never]
      ? Record<string, unknown>
      : FieldsOf<SplitTop<Sides<S>[1]>>
    : Record<string, unknown>;

/**
 * What a module adds to the signature's outputs, as DSPy 3.4 returns them: ChainOfThought and
 * ProgramOfThought a `reasoning`, MultiChainComparison a `rationale`, ReAct its `trajectory`
 * (thoughts, tool names, arguments and observations by step) and the `reasoning` of its
 * final extraction. Predict, BestOfN and Refine (over Predict) add nothing; a user's module
 * or a pipeline may add anything.
 */
export type ModuleExtraOutputs<M> = M extends "ChainOfThought" | "ProgramOfThought"
  ? { reasoning: string }
  : M extends "MultiChainComparison"
    ? { rationale: string }
    : M extends "ReAct"
      ? { reasoning: string; trajectory: Record<string, unknown> }
      : M extends ModuleType
        ? // biome-ignore lint/complexity/noBannedTypes: an empty object type adds no fields to the intersection
          {}
        : Record<string, unknown>; // a user's module or a pipeline: whatever its last stage returns, besides the outputs

/** The fields a run of module `M` over signature `S` returns. */
export type ModuleOutputs<M, S extends string> = Simplify<SignatureOutputs<S> & ModuleExtraOutputs<M>>;
