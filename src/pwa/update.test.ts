import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RegisterSWOptions } from 'vite-plugin-pwa/types';
import { createStore } from 'zustand/vanilla';
import { UPDATE_CHECK_INTERVAL_MS, updateState } from './update';

/** A registerSW double that records the callbacks the store hands it. */
function fakeRegistration() {
  const calls: RegisterSWOptions[] = [];
  const activateUpdate = vi.fn(async () => {});
  const register = vi.fn((options: RegisterSWOptions) => {
    calls.push(options);
    return activateUpdate;
  });
  const callbacks = () => calls[0]!;
  return { register, activateUpdate, callbacks };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('service worker update state', () => {
  it('registers once, however often register() is called', () => {
    const fake = fakeRegistration();
    const store = createStore(updateState(fake.register));
    store.getState().register();
    store.getState().register();
    expect(fake.register).toHaveBeenCalledOnce();
  });

  it('reports the shell cached for offline use, until dismissed', () => {
    const fake = fakeRegistration();
    const store = createStore(updateState(fake.register));
    store.getState().register();
    expect(store.getState().offlineReady).toBe(false);
    fake.callbacks().onOfflineReady!();
    expect(store.getState().offlineReady).toBe(true);
    store.getState().dismissOfflineReady();
    expect(store.getState().offlineReady).toBe(false);
  });

  it('offers a waiting update, and activates it only on reload()', async () => {
    const fake = fakeRegistration();
    const store = createStore(updateState(fake.register));
    store.getState().register();
    fake.callbacks().onNeedRefresh!();
    expect(store.getState().updateAvailable).toBe(true);
    expect(fake.activateUpdate).not.toHaveBeenCalled();
    await store.getState().reload();
    expect(fake.activateUpdate).toHaveBeenCalledWith(true);
    expect(store.getState().updateAvailable).toBe(false);
  });

  it('keeps the running version when the update is dismissed', () => {
    const fake = fakeRegistration();
    const store = createStore(updateState(fake.register));
    store.getState().register();
    fake.callbacks().onNeedRefresh!();
    store.getState().dismissUpdate();
    expect(store.getState().updateAvailable).toBe(false);
    expect(fake.activateUpdate).not.toHaveBeenCalled();
  });

  it('keeps the registration error for the UI', () => {
    const fake = fakeRegistration();
    const store = createStore(updateState(fake.register));
    store.getState().register();
    fake.callbacks().onRegisterError!(new DOMException('Service workers are disabled', 'SecurityError'));
    expect(store.getState().registrationError).toBe('Service workers are disabled');
  });

  it('asks the server for a new version every hour while the tab is open', () => {
    vi.useFakeTimers();
    const fake = fakeRegistration();
    const store = createStore(updateState(fake.register));
    store.getState().register();
    const registration = { update: vi.fn(async () => {}) } as unknown as ServiceWorkerRegistration;
    fake.callbacks().onRegisteredSW!('/sw.js', registration);
    vi.advanceTimersByTime(UPDATE_CHECK_INTERVAL_MS * 2);
    expect(registration.update).toHaveBeenCalledTimes(2);
  });
});
