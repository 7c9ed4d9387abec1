// The app's one chat store, talking to the engine worker, with the first bundled fixture preselected.
import { create } from 'zustand';
import { EngineClient } from '../worker/client';
import { chatState, type ChatState } from './chat';
import { FIXTURE_MODELS, fixtureUrl } from './models';

export const useChat = create<ChatState>()(
  chatState({ connect: () => new EngineClient(), modelUrl: fixtureUrl(FIXTURE_MODELS[0], document.baseURI) }),
);
