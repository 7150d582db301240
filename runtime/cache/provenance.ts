/**
 * The model part of the provenance LayerLab writes into every file of hidden states (caches,
 * traces): which checkpoint, by content, which options change what a block index means, which
 * tokenizer, which LayerLab.
 */
import type { OpenedModel } from '../openModel';
import { LAYERLAB_VERSION } from '../version';

export function modelProvenance(opened: OpenedModel): Record<string, string> {
  const { model, tokenizer, checkpoint } = opened;
  return {
    layerlab_version: LAYERLAB_VERSION,
    model_path: checkpoint.path,
    model_hash: checkpoint.contentHash,
    model_type: model.spec.modelType,
    model_options: JSON.stringify(model.spec.options),
    model_weights: model.spec.precision,
    block_labels: JSON.stringify(model.spec.blocks.map((b) => b.label)),
    tokenizer: tokenizer.source,
  };
}
