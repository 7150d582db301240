import pkg from '../package.json';

/** Recorded in every file LayerLab writes. */
export const LAYERLAB_VERSION: string = pkg.version;
