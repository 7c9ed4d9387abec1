/** The Cache Storage bucket that holds downloaded model files (the engine writes it, the page lists it). */
export const MODEL_CACHE_NAME = 'kvchat-models';
