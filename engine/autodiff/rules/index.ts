/**
 * The gradient registry: one rule per ONNX op, side by side (like PyTorch's derivatives.yaml).
 * Every rule here is checked against central finite differences in float64 (autodiff/*.test.ts).
 */
import type { GradRule } from '../rule';
import * as conv from './conv';
import * as el from './elementwise';
import * as la from './linalg';
import * as norm from './norm';
import * as red from './reduce';
import * as sh from './shape';

export const GRADIENT_RULES: Record<string, GradRule> = {
  // elementwise
  Add: el.Add,
  Sub: el.Sub,
  Mul: el.Mul,
  Div: el.Div,
  Pow: el.Pow,
  Sum: el.Sum,
  Neg: el.Neg,
  Abs: el.Abs,
  Identity: el.Identity,
  Dropout: el.Dropout,
  Exp: el.Exp,
  Log: el.Log,
  Sqrt: el.Sqrt,
  Sigmoid: el.Sigmoid,
  Tanh: el.Tanh,
  Erf: el.Erf,
  Relu: el.Relu,
  Clip: el.Clip,
  Cast: el.Cast,
  Where: el.Where,
  // linear algebra
  MatMul: la.MatMul,
  Gemm: la.Gemm,
  // data movement
  Reshape: sh.reshapeLike,
  Flatten: sh.reshapeLike,
  Squeeze: sh.reshapeLike,
  Unsqueeze: sh.reshapeLike,
  Transpose: sh.Transpose,
  Expand: sh.Expand,
  Concat: sh.Concat,
  Split: sh.Split,
  Slice: sh.Slice,
  Gather: sh.Gather,
  ScatterND: sh.ScatterND,
  // reductions and softmax
  ReduceSum: red.ReduceSum,
  ReduceMean: red.ReduceMean,
  ReduceSumSquare: red.ReduceSumSquare,
  Softmax: red.Softmax,
  LogSoftmax: red.LogSoftmax,
  // normalisation
  LayerNormalization: norm.LayerNormalization,
  BatchNormalization: norm.BatchNormalization,
  // convolution and pooling
  Conv: conv.Conv,
  GlobalAveragePool: conv.GlobalAveragePool,
  MaxPool: conv.MaxPool,
  AveragePool: conv.AveragePool,
};
