import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RegisterSWOptions } from 'vite-plugin-pwa/types';
import { createStore } from 'zustand/vanilla';
import { UPDATE_CHECK_INTERVAL_MS, updateState } from './update';

/** A browser double: records the callbacks the store hands registerSW, and controller changes. */
function fakeHost() {
  const calls: RegisterSWOptions[] = [];
  const controllerChangeListeners: (() => void)[] = [];
  const activateUpdate = vi.fn(async () => {});
  const host = {
    register: vi.fn((options: RegisterSWOptions) => {
      calls.push(options);
      return activateUpdate;
    }),
    onControllerChange: (callback: () => void) => controllerChangeListeners.push(callback),
    reloadPage: vi.fn(),
  };
  const callbacks = () => calls[0]!;
  const changeController = () => controllerChangeListeners.splice(0).forEach((listener) => listener());
  return { host, register: host.register, activateUpdate, callbacks, changeController };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('service worker update state', () => {
  it('registers once, however often register() is called', () => {
    const fake = fakeHost();
    const store = createStore(updateState(fake.host));
    store.getState().register();
    store.getState().register();
    expect(fake.register).toHaveBeenCalledOnce();
  });

  it('reports the shell cached for offline use, until dismissed', () => {
    const fake = fakeHost();
    const store = createStore(updateState(fake.host));
    store.getState().register();
    expect(store.getState().offlineReady).toBe(false);
    fake.callbacks().onOfflineReady!();
    expect(store.getState().offlineReady).toBe(true);
    store.getState().dismissOfflineReady();
    expect(store.getState().offlineReady).toBe(false);
  });

  it('offers a waiting update, activates it only on reload(), and reloads once it controls the page', async () => {
    const fake = fakeHost();
    const store = createStore(updateState(fake.host));
    store.getState().register();
    fake.changeController();
    fake.callbacks().onNeedRefresh!();
    expect(store.getState().updateAvailable).toBe(true);
    expect(fake.activateUpdate).not.toHaveBeenCalled();
    await store.getState().reload();
    expect(fake.activateUpdate).toHaveBeenCalledWith(true);
    expect(store.getState().updateAvailable).toBe(false);
    expect(fake.host.reloadPage).not.toHaveBeenCalled();
    fake.changeController();
    expect(fake.host.reloadPage).toHaveBeenCalledOnce();
  });

  it('keeps the running version when the update is dismissed', () => {
    const fake = fakeHost();
    const store = createStore(updateState(fake.host));
    store.getState().register();
    fake.callbacks().onNeedRefresh!();
    store.getState().dismissUpdate();
    expect(store.getState().updateAvailable).toBe(false);
    expect(fake.activateUpdate).not.toHaveBeenCalled();
  });

  it('keeps the registration error for the UI', () => {
    const fake = fakeHost();
    const store = createStore(updateState(fake.host));
    store.getState().register();
    fake.callbacks().onRegisterError!(new DOMException('Service workers are disabled', 'SecurityError'));
    expect(store.getState().registrationError).toBe('Service workers are disabled');
  });

  it('asks the server for a new version every hour while the tab is open', () => {
    vi.useFakeTimers();
    const fake = fakeHost();
    const store = createStore(updateState(fake.host));
    store.getState().register();
    const registration = { update: vi.fn(async () => {}) } as unknown as ServiceWorkerRegistration;
    fake.callbacks().onRegisteredSW!('/sw.js', registration);
    vi.advanceTimersByTime(UPDATE_CHECK_INTERVAL_MS * 2);
    expect(registration.update).toHaveBeenCalledTimes(2);
  });
});
