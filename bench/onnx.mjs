// A tiny ONNX model writer for the benchmarks: single-node models (onnxruntime's contrib
// MultiHeadAttention, GroupQueryAttention, …) encoded as protobuf bytes by hand, so that the bench
// needs no Python `onnx` and no protobuf library.
//
// Protobuf wire format (protobuf.dev/programming-guides/encoding): each field is a varint key
// (field_number << 3 | wire_type) followed by a varint (wire type 0), 4 little-endian bytes (5), or
// a varint length and that many bytes (2: strings, bytes, embedded messages). Field numbers are
// those of onnx/onnx.proto3:
//   ModelProto      ir_version 1, producer_name 2, graph 7, opset_import 8
//   OperatorSetId   domain 1, version 2
//   GraphProto      node 1, name 2, input 11, output 12
//   NodeProto       input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto  name 1, f 2, i 3, s 4, type 20 (FLOAT 1, INT 2, STRING 3)
//   ValueInfoProto  name 1, type 2;  TypeProto tensor_type 1;  TypeProto.Tensor elem_type 1, shape 2
//   TensorShapeProto dim 1;  Dimension dim_value 1, dim_param 2
export const ElementType = { float: 1, int32: 6, int64: 7, float16: 10 };

const encoder = new TextEncoder();

function varint(value) {
  const bytes = [];
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n;  // negative int64s are 10-byte two's complement varints
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    bytes.push(byte);
  } while (v);
  return bytes;
}

const key = (field, wireType) => varint((field << 3) | wireType);
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};

// One field of a message, as bytes.
const intField = (field, value) => Uint8Array.from([...key(field, 0), ...varint(value)]);
const bytesField = (field, bytes) => concat([Uint8Array.from([...key(field, 2), ...varint(bytes.length)]), bytes]);
const stringField = (field, text) => bytesField(field, encoder.encode(text));
const floatField = (field, value) => {
  const body = new Uint8Array(4);
  new DataView(body.buffer).setFloat32(0, value, true);
  return concat([Uint8Array.from(key(field, 5)), body]);
};

// attributes: { name: number | string | { int: n } | { float: x } }. Plain numbers are INT when
// they are integers, FLOAT otherwise; write { float: 1 } for a float attribute that is whole.
function attribute(name, value) {
  const parts = [stringField(1, name)];
  if (typeof value === 'string') {
    parts.push(bytesField(4, encoder.encode(value)), intField(20, 3));
  } else {
    const isFloat = typeof value === 'object' ? 'float' in value : !Number.isInteger(value);
    const number = typeof value === 'object' ? (value.float ?? value.int) : value;
    parts.push(isFloat ? floatField(2, number) : intField(3, number), intField(20, isFloat ? 1 : 2));
  }
  return concat(parts);
}

// A graph input or output: { name, type: 'float' | 'int32' | …, shape: [number | string] }.
function valueInfo({ name, type, shape }) {
  const dims = shape.map((d) => bytesField(1, typeof d === 'string' ? stringField(2, d) : intField(1, d)));
  const tensorType = concat([intField(1, ElementType[type]), bytesField(2, concat(dims))]);
  return concat([stringField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

/**
 * The bytes of a one-node ONNX model.
 *   op        { type: 'MultiHeadAttention', domain: 'com.microsoft', attributes: { num_heads: 8 } }
 *   inputs    [{ name, type, shape }]   graph inputs in the node's input order; null leaves an
 *             optional input out (an empty name, ONNX's convention for a missing optional input)
 *   outputs   [{ name, type, shape }]   likewise
 *   opsets    { '': 17, 'com.microsoft': 1 }
 */
export function singleNodeModel({ op, inputs, outputs, opsets = { '': 17, 'com.microsoft': 1 }, irVersion = 8 }) {
  const node = concat([
    ...inputs.map((input) => stringField(1, input ? input.name : '')),
    ...outputs.map((output) => stringField(2, output ? output.name : '')),
    stringField(3, `${op.type}_0`),
    stringField(4, op.type),
    ...Object.entries(op.attributes ?? {}).map(([name, value]) => bytesField(5, attribute(name, value))),
    ...(op.domain ? [stringField(7, op.domain)] : []),
  ]);
  const graph = concat([
    bytesField(1, node),
    stringField(2, `${op.type}_graph`),
    ...inputs.filter(Boolean).map((input) => bytesField(11, valueInfo(input))),
    ...outputs.filter(Boolean).map((output) => bytesField(12, valueInfo(output))),
  ]);
  return concat([
    intField(1, irVersion),
    stringField(2, 'kexue-bench'),
    bytesField(7, graph),
    ...Object.entries(opsets).map(([domain, version]) =>
      bytesField(8, concat([stringField(1, domain), intField(2, version)]))),
  ]);
}
