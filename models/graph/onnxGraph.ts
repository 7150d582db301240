/**
 * A small typed layer over `onnx-proto` for emitting graphs: named values, ops with attributes,
 * small constants inline, and large weights referenced in the external weights file (see
 * weights.ts) so that graphs over 2 GB work and every graph variant shares one weights file.
 */
import Long from 'long';
import { onnx } from 'onnx-proto';
import { WEIGHTS_FILE, type StoredDtype, type WeightsManifest } from './weights';

export const OPSET = 17;
export const IR_VERSION = 8;

/** ONNX Runtime's contrib operators (MatMulNBits, GatherBlockQuantized). */
export const MS_DOMAIN = 'com.microsoft';

export type ElemType = 'float32' | 'float16' | 'uint8' | 'int64' | 'bool';
const ELEM: Record<ElemType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  uint8: onnx.TensorProto.DataType.UINT8,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};
/** `to` of a Cast node for each element type. */
export const CAST_TO: Record<ElemType, number> = { float32: 1, uint8: 2, int64: 7, bool: 9, float16: 10 };

/** A symbolic (string) or fixed (number) dimension of a graph input or output. */
export type Dim = number | string;
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly usedNames = new Set<string>();
  private readonly usedWeights = new Set<string>();
  private counter = 0;
  private scope = '';

  private usesMsDomain = false;

  constructor(
    readonly name: string,
    readonly weights: WeightsManifest,
    /** See GraphForm.nbitsAccuracyLevel. */
    readonly nbitsAccuracyLevel: number,
  ) {}

  /** Runs `fn` with node and value names prefixed by `prefix/`, for readable graphs. */
  scoped<T>(prefix: string, fn: () => T): T {
    const saved = this.scope;
    this.scope = saved ? `${saved}/${prefix}` : prefix;
    try {
      return fn();
    } finally {
      this.scope = saved;
    }
  }

  private fresh(hint: string): string {
    const base = this.scope ? `${this.scope}/${hint}` : hint;
    let name = base;
    while (this.usedNames.has(name)) name = `${base}_${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.usedNames.add(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * References a tensor of the weights file. Every graph built over the same file references it;
   * the bytes are stored once.
   */
  weight(name: string): string {
    const e = this.weights.tensors[name];
    if (!e) throw new Error(`weight ${name} is not in the weights file`);
    if (!this.usedWeights.has(name)) {
      this.usedWeights.add(name);
      this.usedNames.add(name);
      this.initializers.push({
        name,
        dims: e.dims.map((d) => Long.fromNumber(d)),
        dataType: ELEM[e.dtype as StoredDtype],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: WEIGHTS_FILE },
          { key: 'offset', value: String(e.offset) },
          { key: 'length', value: String(e.length) },
        ],
      });
    }
    return name;
  }

  /** A large fp32 constant stored in the graph itself as raw bytes (e.g. a per-variant table). */
  constF32Raw(values: Float32Array, dims: number[], hint = 'c'): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dims: dims.map((d) => Long.fromNumber(d)),
      dataType: ELEM.float32,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  /** A small constant stored inside the graph. */
  constF32(values: number[] | Float32Array, dims: number[], hint = 'c'): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dims: dims.map((d) => Long.fromNumber(d)),
      dataType: ELEM.float32,
      floatData: Array.from(values),
    });
    return name;
  }

  constI64(values: number[], dims: number[] = [values.length], hint = 'i'): string {
    const name = this.fresh(hint);
    this.initializers.push({
      name,
      dims: dims.map((d) => Long.fromNumber(d)),
      dataType: ELEM.int64,
      int64Data: values.map((v) => Long.fromNumber(v)),
    });
    return name;
  }

  /** Scalar int64 constant (rank 0). */
  scalarI64(value: number, hint = 'i'): string {
    return this.constI64([value], [], hint);
  }

  scalarF32(value: number, hint = 'c'): string {
    return this.constF32([value], [], hint);
  }

  /** Adds one node with a single output; `outName` fixes the output's name (e.g. a hook point). */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string, domain?: string): string {
    return this.opN(opType, inputs, 1, attrs, outName ? [outName] : undefined, domain)[0];
  }

  opN(
    opType: string,
    inputs: string[],
    nOutputs: number,
    attrs: Record<string, AttrValue> = {},
    outNames?: string[],
    domain?: string,
  ): string[] {
    const outs = outNames
      ? outNames.map((n) => {
          if (this.usedNames.has(n)) throw new Error(`value name ${n} used twice`);
          this.usedNames.add(n);
          return n;
        })
      : Array.from({ length: nOutputs }, (_, i) => this.fresh(`${opType}${nOutputs > 1 ? `_${i}` : ''}`));
    if (domain === MS_DOMAIN) this.usesMsDomain = true;
    this.nodes.push({
      name: this.fresh(`${opType}_node`),
      opType,
      input: inputs,
      output: outs,
      domain: domain ?? '',
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Serialises the graph as an ONNX model. */
  encode(docString = ''): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: Long.fromNumber(IR_VERSION),
      producerName: 'layerlab',
      opsetImport: [
        { domain: '', version: Long.fromNumber(OPSET) },
        ...(this.usesMsDomain ? [{ domain: MS_DOMAIN, version: Long.fromNumber(1) }] : []),
      ],
      docString,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: Long.fromNumber(d) } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v, 'utf8') };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use {float: x} for float attributes`);
    return { name, type: T.INT, i: Long.fromNumber(v) };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v.map((x) => Long.fromNumber(x)) };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}
