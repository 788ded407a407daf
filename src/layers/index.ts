import { ProxyError } from '../errors.js';
import type { OutputSettings } from '../outputs/types.js';
import { type LayerGraph, type LayerGraphOptions, layerGraph } from './filters.js';
import { withLayerFolder } from './inputs.js';
import { type LayerFrame, type PlannedLayer, planLayers } from './plan.js';
import type { Layer } from './types.js';

export { type LayerGraph, layerGraph } from './filters.js';
export { LayerInputs, withLayerFolder } from './inputs.js';
export { type LayerFrame, type PlannedLayer, planLayers, visibleAt } from './plan.js';
export type { Layer } from './types.js';

/**
 * What every output kind does with layers: fetch their inputs into a private folder, plan them on
 * `frame`, build the filter graph from `input` to `output`, and run `work` with it; the folder is
 * removed afterwards whatever happens. `keep` filters the planned layers (a still keeps those
 * visible at its time).
 */
export async function withLayers<T>(
  settings: OutputSettings,
  layers: readonly Layer[],
  frame: LayerFrame,
  graph: { input: string; output: string } & LayerGraphOptions,
  work: (built: LayerGraph & { dir: string }, planned: PlannedLayer[]) => Promise<T>,
  keep: (layer: PlannedLayer) => boolean = () => true,
): Promise<T> {
  const reader = settings.layerInputs;
  if (!reader) throw new ProxyError(501, 'not_implemented', 'Layers are not available on this deployment');
  return reader.withVideos(layers, settings.limits, (videos) =>
    withLayerFolder(async (dir) => {
      const resolved = new Map([...(await reader.materialize(layers, frame, dir)), ...videos]);
      const planned = planLayers(layers, frame, resolved, settings.limits.maxOutputPixels).filter(keep);
      return work({ ...layerGraph(planned, graph.input, graph.output, graph), dir }, planned);
    }),
  );
}
