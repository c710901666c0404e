/**
 * `d2pruner/onnx`: the decoder graph split behind `withTokenPruning({ layer })`, for tools that want the two
 * parts themselves (pure: ModelProto bytes in, prefix and suffix bytes out; browser-safe).
 */
export { splitDecoderGraph, SPLIT_TENSORS, type DecoderSplit, type SplitDecoderOptions } from '../onnx/split-decoder-graph.js';
