/**
 * Storage precisions of a model's weights, defined once for the graph builders (models/graph),
 * the job schemas (runtime/protocol) and the editor's settings. Hook reads and edits are fp32
 * whatever the weights are: fp16 is for GPU providers, int8 and int4 are weight-only block
 * quantization that runs fast on the CPU.
 */
export const WEIGHT_PRECISIONS = ['fp32', 'fp16', 'int8', 'int4'] as const;
export type WeightPrecision = (typeof WEIGHT_PRECISIONS)[number];
