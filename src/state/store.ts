// The app's one chat store, talking to the engine worker and to IndexedDB, with the first bundled
// model preselected.
import { create } from 'zustand';
import { EngineClient } from '../worker/client';
import { chatState, type ChatState } from './chat';
import { dexieRepository } from './db';
import { FIXTURE_MODELS, fixtureUrl } from './models';

export const useChat = create<ChatState>()(
  chatState({
    connect: () => new EngineClient(),
    repository: dexieRepository(),
    modelUrl: fixtureUrl(FIXTURE_MODELS[0], document.baseURI),
  }),
);
