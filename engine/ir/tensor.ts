/** Host tensors: the values the IR stores as initializers and the runtime feeds and fetches. */
export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

export type TensorArray =
  Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorArray;
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

export function allocate(dtype: DType, n: number): TensorArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

export function tensor(dtype: DType, dims: number[], values?: ArrayLike<number> | ArrayLike<bigint>): Tensor {
  const data = allocate(dtype, sizeOf(dims));
  if (values) {
    if (data instanceof BigInt64Array) {
      for (let i = 0; i < data.length; i++) data[i] = BigInt(values[i] as number | bigint);
    } else {
      for (let i = 0; i < data.length; i++) (data as Float32Array)[i] = Number(values[i]);
    }
  }
  return { dtype, dims: [...dims], data };
}

export const scalar = (dtype: DType, v: number): Tensor => tensor(dtype, [], [v]);
export const int64s = (values: number[]): Tensor => tensor('int64', [values.length], values);

export function castFloat(t: Tensor, dtype: 'float32' | 'float64'): Tensor {
  if (t.dtype === dtype) return t;
  const out = allocate(dtype, t.data.length) as Float32Array | Float64Array;
  out.set(t.data as Float32Array | Float64Array);
  return { dtype, dims: [...t.dims], data: out };
}
