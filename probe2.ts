import pkg from 'onnx-proto'; const { onnx } = pkg;
import * as ort from 'onnxruntime-node';
const D = onnx.TensorProto.DataType.DOUBLE;
function vi(name: string, shape: number[], t = D) { return { name, type: { tensorType: { elemType: t, shape: { dim: shape.map(d => ({ dimValue: d })) } } } }; }
async function tryOp(op: string, inputs: [string, number[]][], attrs: any[] = [], outShape: number[] | null = null, nOut = 1) {
  const g = { name: 'g', node: [{ opType: op, input: inputs.map(i => i[0]), output: Array.from({length:nOut},(_, i)=>'y'+i), attribute: attrs }],
    input: inputs.map(([n, s]) => vi(n, s)), output: Array.from({length:nOut},(_, i)=>({ name: 'y'+i })) };
  const m = onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: g }).finish();
  try {
    const s = await ort.InferenceSession.create(m);
    const feeds: any = {}; for (const [n, sh] of inputs) feeds[n] = new ort.Tensor('float64', new Float64Array(sh.reduce((a, b) => a * b, 1)).fill(0.5), sh);
    await s.run(feeds); return 'ok';
  } catch (e: any) { return 'FAIL ' + String(e.message).slice(0, 90); }
}
const x4: [string, number[]] = ['x', [1, 2, 4, 4]];
const cases: [string, [string, number[]][], any[]][] = [
  ['Conv', [x4, ['w', [3, 2, 3, 3]]], []], ['ConvTranspose', [x4, ['w', [2, 3, 3, 3]]], []],
  ['Erf', [x4], []], ['LayerNormalization', [['x', [2, 4]], ['s', [4]], ['b', [4]]], []], ['Gemm', [['x', [2, 4]], ['w', [4, 3]]], []],
  ['MatMul', [['x', [2, 4]], ['w', [4, 3]]], []], ['Softmax', [['x', [2, 4]]], []], ['LogSoftmax', [['x', [2, 4]]], []], ['Clip', [x4], []],
  ['BatchNormalization', [x4, ['s', [2]], ['b', [2]], ['m', [2]], ['v', [2]]], []], ['GlobalAveragePool', [x4], []],
  ['MaxPool', [x4], [{ name: 'kernel_shape', type: 7, ints: [2, 2] }]], ['AveragePool', [x4], [{ name: 'kernel_shape', type: 7, ints: [2, 2] }]],
  ['ReduceMean', [x4], []], ['ReduceSum', [x4], []], ['ReduceMax', [x4], []], ['Sqrt', [x4], []], ['Pow', [x4, ['p', []]], []], ['Relu', [x4], []],
  ['Sigmoid', [x4], []], ['Tanh', [x4], []], ['Exp', [x4], []], ['Log', [x4], []], ['Neg', [x4], []], ['Abs', [x4], []], ['Sign', [x4], []],
  ['Max', [x4, x4.map(v=>v) as any], []], ['Min', [x4, ['z',[1,2,4,4]]], []], ['Div', [x4, ['z',[1,2,4,4]]], []], ['Sub', [x4, ['z',[1,2,4,4]]], []], ['Erf', [x4], []],
  ['Pad', [x4], []], ['Tile', [x4], []],
];
for (const [op, ins, at] of cases) console.log(op.padEnd(20), await tryOp(op, ins, at));
